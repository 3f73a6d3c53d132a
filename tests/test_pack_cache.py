"""Cold start: a pack validated once loads from the cache as the same pack; a changed pack is
validated again (and refused if it became invalid); ``import stridewise`` stays light."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stridewise.engine import rules
from stridewise.engine.errors import RulesetError
from stridewise.engine.rules import builtin_pack_files, load_pack, parse_pack


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(rules.CACHE_ENV, str(folder))
    return folder


def test_a_pack_validated_once_loads_from_the_cache_as_the_same_pack(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = builtin_pack_files()[0]
    first = load_pack(source)
    assert first == parse_pack(source.read_text("utf-8"), origin=str(source))
    assert len(list((cache / "packs").glob("*.json"))) == 1

    def no_validation() -> None:
        raise AssertionError("the pack was validated again")

    monkeypatch.setattr(rules, "_validator", no_validation)
    again = load_pack(source)
    assert again == first
    assert isinstance(again.rules, tuple) and isinstance(again.tests, tuple)


def test_a_changed_pack_is_validated_again_and_refused_when_broken(
    cache: Path, tmp_path: Path
) -> None:
    path = tmp_path / "mine.yaml"
    text = builtin_pack_files()[0].read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    load_pack(path)
    path.write_text(text.replace("ruleset:", "rulesett:", 1), encoding="utf-8")
    with pytest.raises(RulesetError):
        load_pack(path)
    # Only the latest entry of a pack is kept.
    path.write_text(text + "\n# edited\n", encoding="utf-8")
    load_pack(path)
    assert len(list((cache / "packs").glob("*.json"))) == 1


def test_a_broken_cache_entry_is_validated_again(cache: Path) -> None:
    source = builtin_pack_files()[0]
    first = load_pack(source)
    for entry in (cache / "packs").glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert load_pack(source) == first


def test_no_cache_when_switched_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rules.CACHE_ENV, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_pack(builtin_pack_files()[0])
    assert not (tmp_path / "xdg").exists()


def test_import_stridewise_loads_no_heavy_module() -> None:
    code = (
        "import sys, stridewise\n"
        "heavy = {'numpy', 'marshmallow', 'jsonschema', 'durable_rules_engine', 'rich', 'yaml'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    code = "import stridewise; print(stridewise.History.__name__, stridewise.build_engine.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["History", "build_engine"]
