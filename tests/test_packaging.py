"""What an install (not editable) carries: every package, and the shipped configs as package data
(prac/configs/*.yaml from the top-level configs/ folder), so `--config NAME` works anywhere."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]


def test_every_package_is_listed_and_configs_are_package_data():
    setup = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for top in ("prac", "pipelines")
               for p in (REPO / top).rglob("__init__.py")}
    missing = on_disk - set(setup["packages"])
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "prac.configs" in setup["packages"] and setup["package-dir"] == {"prac.configs": "configs"}
    assert setup["package-data"]["prac.configs"] == ["*.yaml"]


def test_the_wheel_holds_every_module_and_the_shipped_configs(tmp_path):
    pytest.importorskip("setuptools")  # the build backend, used without an isolated (downloaded) one
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("prac", "pipelines", "configs"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                          "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    [wheel] = (tmp_path / "dist").glob("prac-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (REPO / "configs").glob("*.yaml"):
        assert f"prac/configs/{path.name}" in names
    for top in ("prac", "pipelines"):
        for path in (REPO / top).rglob("*.py"):
            assert path.relative_to(REPO).as_posix() in names


def test_the_fallback_version_is_the_packaged_one():
    import prac

    assert prac.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
