"""The wheel holds every subpackage and every data file; the installed package finds them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import stridewise
from stridewise.engine.rules import builtin_pack_files, ruleset_schema

#: Slow (processes, wheels or fuzzing): `pytest -m 'not slow'` skips them in a quick loop.
pytestmark = pytest.mark.slow

REPO = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    (whl,) = out.glob("stridewise-*.whl")
    return zipfile.ZipFile(whl)


def test_wheel_contains_every_subpackage_and_data_file(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for folder, package in [
        ("engine", "engine"),
        ("plugins", "plugins"),
        ("adapters", "adapters"),
        ("rulesets", "rulesets"),
        ("src/stridewise", ""),
    ]:
        for source in (REPO / folder).glob("*.py"):
            target = "/".join(p for p in ("stridewise", package, source.name) if p)
            assert target in names, target
    for pack in (REPO / "rulesets").glob("*.yaml"):
        assert f"stridewise/rulesets/{pack.name}" in names
    for data_file in (REPO / "adapters").glob("*.json"):
        assert f"stridewise/adapters/{data_file.name}" in names
    for data in [
        "stridewise/engine/ruleset.schema.json",
        "stridewise/data/demo_athlete.yaml",
        "stridewise/py.typed",
    ]:
        assert data in names
    # No top-level package other than stridewise (an 'engine' package would collide in apps).
    tops = {n.split("/")[0] for n in names if not n.startswith("stridewise-")}
    assert tops == {"stridewise"}
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = wheel.read(entry_points).decode()
    assert "[stridewise]" in text and "journal = stridewise.adapters.journal" in text
    assert "stridewise = stridewise.cli:main" in text


def test_installed_package_finds_its_rule_packs() -> None:
    shipped = {f.name for f in builtin_pack_files()}
    assert shipped == {p.name for p in (REPO / "rulesets").glob("*.yaml")}
    assert ruleset_schema()["title"] == "stridewise rule pack"
    assert stridewise.__version__
