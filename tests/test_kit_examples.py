"""The example plugin packages: each builds as a wheel with its package data, installs,
is listed by `stridewise plugins` and passes its own tests through the pytest plugin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_every_example_builds_installs_is_listed_and_passes_its_tests(tmp_path: Path) -> None:
    # installed into a folder on PYTHONPATH: the development environment stays as it was
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "check_examples.py"), "--target", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "2 example(s) checked, 0 problem(s)" in result.stdout


def test_the_examples_are_not_part_of_the_stridewise_package() -> None:
    import tomllib

    config = tomllib.loads((EXAMPLES.parent / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert not any("example" in p for p in config["packages"])
    assert not any("example" in str(d) for d in config["package-dir"].values())
    assert {p.name for p in EXAMPLES.glob("*/pyproject.toml")} and all(
        (p.parent / "README.md").is_file() and list((p.parent / "tests").glob("test_*.py"))
        for p in EXAMPLES.glob("*/pyproject.toml")
    )
