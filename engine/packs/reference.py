"""Reference pages generated from packs: every tunable threshold with its bounds, its source
and what is contested about it (docs/evidence.md holds this for the built-in packs; a test
keeps the page and the packs in line)."""

from __future__ import annotations

from collections.abc import Iterable

from ..cards import fmt_value
from ..rules import Parameter, RulePack

__all__ = ["evidence_markdown"]


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _value(param: Parameter) -> str:
    unit = f" {param.unit}" if param.unit else ""
    if param.choices is not None:
        return f"{fmt_value(param.default)} (one of {', '.join(map(str, param.choices))})"
    if param.min is None and param.max is None:
        return f"{fmt_value(param.default)}{unit}"
    lo = "…" if param.min is None else f"{param.min:g}"
    hi = "…" if param.max is None else f"{param.max:g}"
    return f"{fmt_value(param.default)}{unit} ({lo}-{hi})"


def evidence_markdown(packs: Iterable[RulePack]) -> str:
    """Per pack: its sources, then its parameters (default and allowed range, source, what is
    contested), as Markdown."""
    out: list[str] = []
    for pack in sorted(packs, key=lambda p: p.id):
        out += [f"### {pack.title} (`{pack.id}` {pack.version})", ""]
        out += ["| source | cited as |", "|---|---|"]
        for key, src in pack.sources.items():
            label = _cell(src["label"])
            if src.get("url"):
                label += f" <{src['url']}>"
            out.append(f"| `{key}` | {label} |")
        out.append("")
        if pack.parameters:
            out += ["| parameter | default (allowed) | source | what it is; what is contested |"]
            out += ["|---|---|---|---|"]
            for name, param in pack.parameters.items():
                text = _cell(param.description)
                if param.contested:
                    text += f" **Contested:** {_cell(param.contested)}"
                row = [f"`{name}`", _cell(_value(param)), f"`{param.source or '-'}`", text]
                out.append("| " + " | ".join(row) + " |")
            out.append("")
    return "\n".join(out)
