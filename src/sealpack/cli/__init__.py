"""The ``sealpack`` command line: a thin layer over the api, keys and exchange modules."""
