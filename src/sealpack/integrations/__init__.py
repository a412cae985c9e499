"""Adapters that run sealpack inside third-party engines (optional extras).

Each integration lives in its own sub-package and imports its engine lazily, so
``import sealpack`` never needs the engine installed.
"""
