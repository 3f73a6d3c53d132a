"""Review item 15: `stridewise new pack` writes a rule that is not a built-in one and lints
clean beside the built-in packs; what `status: draft` means is written down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from stridewise import plugin_packs
from stridewise.cli import cli
from stridewise.cli_rulesets import rulesets
from stridewise.engine.rules import load_packs
from stridewise.plugins import hookimpl
from stridewise.plugins.host import plugins_in_process

ROOT = Path(__file__).resolve().parent.parent


def new_pack(tmp_path: Path) -> Path:
    target = tmp_path / "stridewise-myclinic"
    result = CliRunner().invoke(cli, ["new", "pack", "myclinic", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    return target / "src" / "stridewise_myclinic" / "packs"


class _Installed:
    """The skeleton as if `pip install -e .` had been run in it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def stridewise_ruleset_sources(self) -> list[Any]:
        return [self.folder]


def test_the_new_pack_lints_clean_once_installed_beside_the_built_in_packs(
    tmp_path: Path,
) -> None:
    packs = new_pack(tmp_path)
    with plugins_in_process(("myclinic", _Installed(packs))):
        result = CliRunner().invoke(rulesets, ["lint", "--json"], catch_exceptions=False)
    findings = json.loads(result.stdout)
    mine = [f for f in findings if "myclinic" in f["file"] or "myclinic" in f["message"]]
    assert mine == []


def test_the_new_pack_rule_is_not_a_built_in_rule(tmp_path: Path) -> None:
    (pack,), errors = load_packs([new_pack(tmp_path)])
    assert errors == []
    built_in = plugin_packs()[0]
    built_in_ids = {rid for p in built_in for rid in p.rule_ids}
    assert not set(pack.rule_ids) & built_in_ids
    tested = {
        field for rule in pack.rules for clause in rule["when"] for field in clause.get("where", {})
    }
    used = {
        field
        for p in built_in
        for rule in p.rules
        for clause in rule["when"]
        if isinstance(clause, dict)
        for field in clause.get("where", {})
    }
    assert tested and not tested & used  # it tests a fact no built-in rule tests


def test_the_new_pack_cases_pass_at_full_coverage(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        rulesets, ["test", str(new_pack(tmp_path)), "--min-coverage", "100"]
    )
    assert result.exit_code == 0, result.output


def test_the_docs_say_a_draft_pack_still_runs(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "packs.md").read_text("utf-8")
    section = " ".join(
        text.split("### Status: active, draft, retired", 1)[1].split("\n## ")[0].split()
    )
    assert "does not decide whether a pack runs" in section
    assert "STRIDEWISE_BLOCK_PLUGINS" in section
    skeleton = next(new_pack(tmp_path).glob("*.yaml")).read_text("utf-8")
    assert "status: draft" in skeleton and "docs/packs.md" in skeleton
