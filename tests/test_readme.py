"""The README's Python API example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def test_python_api_example_runs(capsys: object) -> None:
    text = README.read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    cards = namespace["cards"]
    assert isinstance(cards, list) and cards
    assert {c.rule_id for c in cards} >= {"pain-at-rest-or-night", "shoe-worn"}


def test_readme_names_the_commands_ci_runs() -> None:
    text = README.read_text()
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    command = (
        ".venv-tox/bin/pip install 'tox>=4.14' && "
        ".venv-tox/bin/tox run-parallel --parallel-no-spinner"
    )
    assert command in text and command in ci
    assert "stridewise demo" in text
