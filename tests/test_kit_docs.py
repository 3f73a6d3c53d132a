"""Plugin-author docs, datasette style: every hook and every public name of
stridewise.plugins is documented with an example, and every example runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stridewise.plugins as api
import stridewise.testing as testing_plugin

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HOOKS = sorted(name for name in vars(api.HookSpecs) if name.startswith("stridewise_"))
PAGES = ["plugin-api.md", "plugins.md", "testing-plugins.md", *(f"hooks/{h}.md" for h in HOOKS)]
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(page: str) -> list[tuple[str, int, str]]:
    """(info string, line, code) of every fenced block of a page."""
    text = (DOCS / page).read_text(encoding="utf-8")
    return [
        (m.group(1).strip(), text.count("\n", 0, m.start()) + 2, m.group(2))
        for m in FENCE.finditer(text)
    ]


def sections(page: str) -> dict[str, str]:
    """Heading line -> the text under it (to the next heading of any level)."""
    text = (DOCS / page).read_text(encoding="utf-8")
    parts = re.split(r"^(#{1,4} .*)$", text, flags=re.MULTILINE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def test_every_public_name_of_stridewise_plugins_has_a_section_with_an_example() -> None:
    documented = sections("plugin-api.md")
    missing = []
    for name in api.__all__:
        heads = [h for h in documented if h.startswith("### ") and f"`{name}`" in h]
        if not heads or "```python" not in documented[heads[0]]:
            missing.append(name)
    assert missing == []


def test_every_hook_has_a_page_with_a_runnable_example_and_is_exercised_by_tests() -> None:
    tests = "".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    for hook in HOOKS:
        page = DOCS / "hooks" / f"{hook}.md"
        assert page.is_file(), hook
        assert any(info == "python" for info, _, _ in blocks(f"hooks/{hook}.md")), hook
        doc = getattr(api.HookSpecs, hook).__doc__.split("\n")[0]
        assert doc in page.read_text(), f"{hook}: the page does not quote the hookspec"
        assert f"def {hook}(" in tests, f"{hook}: no test implements it"


def test_every_fixture_of_the_pytest_plugin_is_documented() -> None:
    fixtures = [n for n in dir(testing_plugin) if n.startswith("stridewise_")]
    text = (DOCS / "testing-plugins.md").read_text()
    assert len(fixtures) >= 6
    assert [f for f in fixtures if f"### `{f}`" not in text] == []


@pytest.mark.parametrize("page", PAGES)
def test_the_python_examples_of_the_page_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page's ``python`` blocks run in order, in one namespace, in an empty folder."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    ran = 0
    for info, line, code in blocks(page):
        if info == "python":
            exec(compile(code, f"{DOCS / page}:{line}", "exec"), namespace)
            ran += 1
    assert ran or not any(info.startswith("python") for info, _, _ in blocks(page))


@pytest.mark.parametrize("page", ["testing-plugins.md"])
def test_the_test_examples_of_the_page_pass_under_pytest(page: str, tmp_path: Path) -> None:
    """``python test`` blocks are an author's test files: they run under pytest, as written."""
    files = [code for info, _, code in blocks(page) if info == "python test"]
    assert files
    for n, code in enumerate(files):
        (tmp_path / f"test_doc_{n}.py").write_text(textwrap.dedent(code))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
