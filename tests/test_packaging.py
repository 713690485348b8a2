"""The distribution ships every Python package of the project (a wheel is not editable)."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")
ROOT = Path(__file__).resolve().parent.parent


def test_every_package_folder_is_listed_for_the_wheel():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(setuptools["packages"])
    folders = {name: ROOT / path for name, path in setuptools["package-dir"].items()}
    found = set()
    for name, folder in folders.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join((name, *relative)))
    data_root = ROOT / "genpt" / "default_data"  # folders of data files, listed so that they ship
    data = {".".join(("genpt", *f.relative_to(ROOT / "genpt").parts)) for f in [data_root, *data_root.rglob("*")]
            if f.is_dir() and any(p.is_file() for p in f.iterdir())}
    assert found - listed == set(), "packages missing from pyproject.toml [tool.setuptools] packages"
    assert data - listed == set(), "data folders missing from pyproject.toml [tool.setuptools] packages"
    assert listed - found - data == set()
