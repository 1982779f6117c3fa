"""Every lazily re-exported public name resolves to the object its module defines."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["econalign.model", "econalign.train", "econalign.evaluate", "econalign.serve", "econalign.applications"]


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_resolve(package: str) -> None:
    module = importlib.import_module(package)
    exports = module._EXPORTS
    assert set(exports) <= set(module.__all__)
    assert dir(module) == sorted(module.__all__)
    for name in module.__all__:
        value = getattr(module, name)
        if name in exports:
            assert value is getattr(importlib.import_module(exports[name]), name), name


def test_unknown_name_says_which_package() -> None:
    with pytest.raises(AttributeError, match=r"'econalign\.model' has no attribute 'NoSuchThing'"):
        getattr(importlib.import_module("econalign.model"), "NoSuchThing")  # noqa: B009
