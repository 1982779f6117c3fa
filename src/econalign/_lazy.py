"""Lazy re-exports for package ``__init__`` modules (PEP 562), so that importing a package stays cheap."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` that import each public name from its module on first use.

    Args:
        package: The package's ``__name__``; ``__dir__`` lists its ``__all__``.
        exports: Public name -> module that defines it.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's top level.

    Example:
        >>> getattr_, _ = lazy_exports("pkg", {"sqrt": "math"})
        >>> getattr_("sqrt")(4.0)
        2.0
    """

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(sys.modules[package].__all__)

    return __getattr__, __dir__
