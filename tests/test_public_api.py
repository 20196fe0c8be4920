"""Each module's ``__all__`` names exactly what it exports, so the public API is chosen on purpose."""

import importlib
import pkgutil

import pytest

import assistant
import classifiers
import phrasebook


def _modules():
    for package in (phrasebook, classifiers, assistant):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    for exported in getattr(module, "__all__", ()):
        assert hasattr(module, exported), f"{name}.__all__ names missing {exported!r}"
