"""One lazy-import hook for the integration packages.

An integration's ``__init__`` names which sub-module defines each public name; the
sub-module (and the engine it needs) is imported on the first attribute access, so
``import sealpack`` never needs the engine installed and a missing engine gives the
integration's own clear error instead of an ImportError from deep inside.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str,
    names: Mapping[str, str],
    *,
    engine: str | None = None,
    missing: Callable[[], Exception] | None = None,
) -> Callable[[str], Any]:
    """Build a module ``__getattr__`` that imports each name's sub-module on first use.

    Args:
        package: the integration package's ``__name__``.
        names: public name -> sub-module (relative to ``package``) that defines it.
        engine: a module that must import first (e.g. ``"flwr"``); None: no check.
        missing: builds the error raised when ``engine`` cannot be imported.

    Returns:
        The ``__getattr__`` function; it caches each value in the package's globals.
    """

    def getattr_(name: str) -> Any:
        module_name = names.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if engine is not None:
            try:
                importlib.import_module(engine)
            except ImportError as exc:
                raise (missing() if missing else exc) from exc
        value = getattr(importlib.import_module(f"{package}.{module_name}"), name)
        vars(importlib.import_module(package))[name] = value
        return value

    return getattr_
