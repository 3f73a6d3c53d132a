"""`stridewise new plugin|pack NAME`: the skeleton passes its own tests, builds and installs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from stridewise.cli import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _new(kind: str, name: str, where: Path) -> Path:
    target = where / f"stridewise-{name}"
    result = CliRunner().invoke(cli, ["new", kind, name, "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert "next: cd" in result.output
    return target


def _pytest(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project)],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
    )


@pytest.mark.parametrize(("kind", "name"), [("plugin", "mywatch"), ("pack", "club_rules")])
def test_a_new_skeleton_passes_its_own_tests(tmp_path: Path, kind: str, name: str) -> None:
    project = _new(kind, name, tmp_path)
    result = _pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.parametrize("kind", ["plugin", "pack"])
def test_the_skeleton_is_lint_clean(tmp_path: Path, kind: str) -> None:
    project = _new(kind, "lintme", tmp_path)
    config = str(Path(__file__).resolve().parent.parent / "pyproject.toml")
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "--config", config, str(project)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_name_or_a_folder_in_use_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["new", "plugin", "My Watch", "--dir", str(tmp_path / "x")])
    assert result.exit_code == 2 and "not a plugin name" in result.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["new", "pack", "rules", "--dir", str(tmp_path / "used")])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "name"), [("plugin", "mywatch"), ("pack", "club_rules")])
def test_a_new_skeleton_builds_installs_and_is_listed(tmp_path: Path, kind: str, name: str) -> None:
    spec = importlib.util.spec_from_file_location("check_examples", EXAMPLES / "check_examples.py")
    assert spec and spec.loader
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    project = _new(kind, name, tmp_path / "src")
    work = tmp_path / "work"
    work.mkdir()
    assert checker.check(project, work, tmp_path / "site") == []
