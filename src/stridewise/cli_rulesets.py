"""``stridewise rulesets ...`` (list, test, lint, profile) and ``stridewise explain``.

The main CLI loads them on demand. They run in the one shell of :mod:`stridewise.cli_shell`
(its consoles, its error handler, one plugin host per command run), so they behave the same on
their own (tests) and inside the main group.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sys
from collections.abc import Iterable, Sequence
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from stridewise.cli_shell import (
    STYLE,
    ShellCommand,
    ShellGroup,
    date_option,
    err_console,
    escape,
    parse_date,
    plain,
    plugin_host,
    read_journal_option,
    warn,
    warn_plugin_errors,
    wide,
)
from stridewise.cli_shell import (
    line_console as console,
)
from stridewise.engine.cards import fmt_value
from stridewise.engine.errors import RulesetError, StridewiseError
from stridewise.engine.facts import History
from stridewise.engine.packs import (
    ClinicProfile,
    DecisionLog,
    PackEntry,
    RuleExplanation,
    builtin_vignette_files,
    discover_packs,
    error_dict,
    lint_packs,
    load_profile,
    record,
    run_pack_tests,
    run_vignettes,
)
from stridewise.engine.packs import (
    explain as explain_evaluation,
)
from stridewise.engine.rules import RulePack, load_packs
from stridewise.engine.runtime import Engine
from stridewise.plugins import PluginHost

__all__ = ["engine_for", "escape", "explain", "parse_date", "plain", "rulesets"]


def _sources(paths: Sequence[Path], host: PluginHost | None = None) -> list[tuple[str, Any]]:
    """The given files/folders, or every plugin's pack sources (built-in packs included)."""
    if paths:
        return [("path", p) for p in paths]
    host = host or plugin_host()
    sources: list[tuple[str, Path | Traversable]] = host.ruleset_sources()
    warn_plugin_errors(host)
    return sources


def _installed(
    host: PluginHost, extra: Sequence[Path]
) -> tuple[list[PackEntry], list[RulesetError]]:
    entries, errors = discover_packs(host.ruleset_sources())
    more, more_errors = discover_packs(("path", p) for p in extra)
    taken = {e.pack.id for e in entries}
    for entry in more:
        if entry.pack.id in taken:
            more_errors.append(
                RulesetError(
                    f"pack id {entry.pack.id!r} is already installed", file=entry.pack.origin
                )
            )
        else:
            entries.append(entry)
    warn_plugin_errors(host)
    return entries, errors + more_errors


def _packs_option(f: Any) -> Any:
    return click.option(
        "--pack",
        "extra",
        multiple=True,
        type=click.Path(exists=True, path_type=Path),
        help="Extra rule pack file or folder (repeatable).",
    )(f)


def _profile_option(f: Any) -> Any:
    return click.option(
        "--profile",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="A clinic profile (YAML): packs, versions, parameters, disabled rules, wording.",
    )(f)


def _loc(file: str | None, line: int | None) -> str:
    return f"{file or '<ruleset>'}{f':{line}' if line else ''}"


# ---------------------------------------------------------------------------------------------
# stridewise rulesets
# ---------------------------------------------------------------------------------------------


@click.group("rulesets", cls=ShellGroup)
def rulesets() -> None:
    """List, test and lint rule packs; check clinic profiles."""


@rulesets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_packs_option
@_profile_option
def list_cmd(as_json: bool, extra: tuple[Path, ...], profile: Path | None) -> None:
    """Every loaded pack (id, version, status, review date, rules, hash, origin) and failures.

    With --profile, only the packs that clinic profile selects (its own packs included).
    """
    entries, errors = _installed(plugin_host(), extra)
    if profile is not None:
        clinic = load_profile(profile)
        resolved = clinic.resolve([e.pack for e in entries])
        if resolved.errors:
            raise resolved.errors[0]
        by_id = {e.pack.id: e for e in entries}
        entries = [
            by_id[p.id]
            if by_id.get(p.id) and by_id[p.id].pack is p
            else PackEntry(p, clinic.clinic_id)
            for p in resolved.packs
        ]
    rows = [e.to_dict() for e in entries]
    if as_json:
        click.echo(json.dumps({"packs": rows, "errors": [error_dict(e) for e in errors]}, indent=2))
        return
    table = Table(title="Rule packs")
    for col in ("id", "version", "status", "reviewed", "rules", "tests", "hash", "origin"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(
            escape(row["id"]),
            escape(row["version"]),
            escape(row["status"]),
            escape(row["reviewed"] or "-"),
            str(row["rules"] + row["score_bands"]),
            str(row["tests"]),
            escape(row["content_hash"][:12]),
            escape(f"{row['origin']} ({row['provider']})"),
        )
    wide().print(table)
    for error in errors:
        err_console.print(
            f"[red]failed to load:[/] {escape(_loc(error.file, error.line))}: "
            + escape(error.reason),
            highlight=False,
        )


@rulesets.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=0.0,
    show_default=True,
    help="Fail if any pack's rule coverage (percent of its rules fired by its cases) is lower.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def test_cmd(paths: tuple[Path, ...], min_coverage: float, as_json: bool) -> None:
    """Run the test cases inside packs (default: the installed packs) and measure coverage.

    Exits 1 on a failed case, a pack that does not load, or coverage under --min-coverage.
    """
    packs, errors = load_packs(src for _, src in _sources(paths))
    report = run_pack_tests(packs, load_errors=errors)
    if not paths:  # the installed set: also the vignettes that run every pack together
        report = dataclasses.replace(
            report, cases=report.cases + tuple(run_vignettes(packs, builtin_vignette_files()))
        )
    ok = report.ok(min_coverage)
    if as_json:
        click.echo(json.dumps(report.to_dict(min_coverage), indent=2))
        sys.exit(0 if ok else 1)
    for error in report.errors:
        console.print(
            f"[red]LOAD ERROR[/] {escape(_loc(error.file, error.line))}: {escape(error.reason)}",
            highlight=False,
        )
    for case in report.failures:
        console.print(
            f"[red]FAIL[/] {escape(case.pack)} / {escape(case.case)} "
            f"({escape(_loc(case.origin, case.line))})",
            highlight=False,
        )
        for failure in case.failures:
            console.print(f"    {escape(failure)}", highlight=False)
        console.print(f"    fired: {escape(', '.join(case.fired) or 'nothing')}", highlight=False)
    table = Table(title="Rule coverage")
    for col in ("pack", "cases", "covered", "never fired"):
        table.add_column(col, overflow="fold")
    for cov in report.coverage:
        n_cases = sum(1 for c in report.cases if c.origin == cov.origin)
        table.add_row(
            escape(cov.pack),
            str(n_cases),
            f"{len(cov.covered)}/{len(cov.rules)} ({cov.percent:.0f}%)",
            escape(", ".join(cov.missed) or "-"),
        )
    vignettes = [c for c in report.cases if c.pack == "vignettes"]
    if vignettes:
        table.add_row("(all packs: vignettes)", str(len(vignettes)), "-", "-")
    console.print(table)
    failed = len(report.failures)
    console.print(
        f"{len(report.cases)} cases, {failed} failed; coverage {report.percent:.1f}%"
        + (f" (minimum {min_coverage:g}% per pack)" if min_coverage else ""),
        highlight=False,
    )
    for cov in report.under(min_coverage):
        console.print(
            f"[red]coverage of {escape(cov.pack)} is {cov.percent:.1f}%, under "
            f"{min_coverage:g}%[/]: never fired: {escape(', '.join(cov.missed))}",
            highlight=False,
        )
    sys.exit(0 if ok else 1)


@rulesets.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def lint_cmd(paths: tuple[Path, ...], as_json: bool) -> None:
    """Check packs (default: the installed ones) beyond what loading checks.

    One line per finding: file:line: severity: message. Exits 1 if any finding is an error.
    """
    findings = lint_packs(src for _, src in _sources(paths))
    errors = sum(1 for f in findings if f.severity == "error")
    if as_json:
        click.echo(json.dumps([f.to_dict() for f in findings], indent=2))
    else:
        for finding in findings:
            click.echo(plain(finding))
        warnings = len(findings) - errors
        click.echo(f"{errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(1 if errors else 0)


@rulesets.command("fields")
@click.argument("fact_types", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def fields_cmd(fact_types: tuple[str, ...], as_json: bool) -> None:
    """The facts rules can test and their fields: type, unit, values, meaning.

    FACT_TYPES narrows the list (e.g. pain injury). The same catalogue the loader, lint and
    docs/packs.md use.
    """
    from stridewise.engine.conditions import CATALOGUE, FACT_TYPES, domain_note

    unknown = [t for t in fact_types if t not in CATALOGUE]
    if unknown:
        raise StridewiseError(
            f"no fact type {', '.join(map(repr, unknown))} (known: {', '.join(CATALOGUE)})"
        )
    kinds = list(fact_types) or list(CATALOGUE)
    if as_json:
        doc = {k: {n: f.to_dict() for n, f in CATALOGUE[k].items()} for k in kinds}
        click.echo(json.dumps(doc, indent=2))
        return
    out = wide()
    for kind in kinds:
        table = Table(title=f"{kind}: {FACT_TYPES[kind]}", title_justify="left")
        for column in ("field", "type", "unit", "values", "meaning"):
            table.add_column(column, overflow="fold")
        for f in CATALOGUE[kind].values():
            values = ", ".join(f.allowed) if f.allowed else domain_note(kind, f.name).strip(" ()")
            table.add_row(f.name, f.type, f.unit or "", values, f.description)
        out.print(table)


@rulesets.command("profile")
@click.argument("profile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_packs_option
def profile_cmd(profile: Path, extra: tuple[Path, ...]) -> None:
    """Check a clinic profile against the installed packs and show what it selects.

    Exits 1 if the profile has errors (all are listed); warnings do not fail.
    """
    entries, load_errors = _installed(plugin_host(), extra)
    for error in load_errors:
        warn(f"{_loc(error.file, error.line)}: {error.reason}")
    clinic = load_profile(profile)
    resolved = clinic.resolve([e.pack for e in entries])
    console.print(
        f"[bold]{escape(clinic.name)}[/] ({escape(clinic.clinic_id)}) from {escape(profile)}",
        highlight=False,
    )
    for pack in resolved.packs:
        own = " (the clinic's own)" if pack in clinic.own_packs else ""
        values = resolved.overrides.get(pack.id) or {}
        tuned = ", ".join(f"{k} = {fmt_value(v)}" for k, v in values.items())
        console.print(
            escape(f"  {pack.id} {pack.version}{own}")
            + (f"; parameters: {escape(tuned)}" if tuned else ""),
            highlight=False,
        )
    if clinic.disabled:
        console.print(f"  disabled: {escape(', '.join(clinic.disabled))}", highlight=False)
    if clinic.wording:
        console.print(f"  reworded: {escape(', '.join(clinic.wording))}", highlight=False)
    for warning in resolved.warnings:
        warn(f"{_loc(warning.file, warning.line)}: {warning.reason}")
    for error in resolved.errors:
        err_console.print(
            f"[bold red]error:[/] {escape(_loc(error.file, error.line))}: {escape(error.reason)}",
            highlight=False,
        )
    sys.exit(1 if resolved.errors else 0)


# ---------------------------------------------------------------------------------------------
# stridewise explain
# ---------------------------------------------------------------------------------------------


def engine_for(
    host: PluginHost, *, profile: ClinicProfile | None = None, extra: Sequence[Path] = ()
) -> Engine:
    """The installed packs (plus ``extra``), as a clinic ``profile`` selects and tunes them."""
    entries, errors = _installed(host, extra)
    asked = [str(p) for p in extra]
    for error in errors:
        if any(str(error.file or "").startswith(a) for a in asked):
            raise error  # a pack the user named must not drop out of the report quietly
        warn(f"rule pack skipped: {_loc(error.file, error.line)}: {error.reason}")
    packs: list[RulePack] = [e.pack for e in entries]
    if profile is not None:
        return profile.build_engine(packs)
    return Engine(packs)


@click.command("explain", cls=ShellCommand)
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History database when no PATHS are given (default: $STRIDEWISE_DB or the user data "
    "folder).",
)
@read_journal_option
@click.option(
    "--as-of",
    "as_of",
    default=None,
    callback=date_option,
    help="Date to explain, YYYY-MM-DD (default: today, as report).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@_profile_option
@_packs_option
@click.option(
    "--decision-log",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append this evaluation to a JSON-lines decision log (athlete stored hashed).",
)
@click.option(
    "--athlete",
    default=None,
    help="Athlete id for the decision log (stored hashed; default: the input paths).",
)
def explain_cmd(
    paths: tuple[str, ...],
    db: Path | None,
    journal: Path | None,
    as_of: dt.date | None,
    as_json: bool,
    profile: Path | None,
    extra: tuple[Path, ...],
    decision_log: Path | None,
    athlete: str | None,
) -> None:
    """Import PATHS and show which rules fired on which facts, and why the others did not.

    Without PATHS: the stored history and your journal, as ``stridewise report`` reads them.
    """
    # the same reading and checks as report (imported here: no import cycle). Input that was
    # skipped is said on stderr and ends the command with an "incomplete" error (exit 1).
    from stridewise.cli import _check_red_flags_loaded, _events_from

    host = plugin_host()
    history = History(_events_from(paths, db, host, quiet=True, journal=journal))
    day = as_of or dt.date.today()  # as report does
    clinic = load_profile(profile) if profile is not None else None
    engine = engine_for(host, profile=clinic, extra=extra)
    if not engine.packs:
        _check_red_flags_loaded(engine)  # no packs at all: an error, never an empty explanation
    elif not any(p.protected_rules for p in engine.packs):  # a pack author's own packs alone
        err_console.print(
            "[yellow]warning:[/] the red-flag rules (see a physician) are not loaded: this "
            "explains only the packs listed, not what a report would say",
            highlight=False,
        )
    log = DecisionLog(decision_log) if decision_log is not None else None
    athlete_id = (
        athlete or ",".join(str(Path(p).resolve()) for p in paths) or str(db or "stored history")
    )
    card_athlete = log.hash_athlete(athlete_id) if log else "athlete"
    evaluation = engine.evaluate_facts(history.facts(day), day, athlete=card_athlete)
    explanations = explain_evaluation(engine, evaluation)
    entry = None
    if log is not None:
        entry = record(
            log, engine, evaluation, athlete_id, clinic=clinic.clinic_id if clinic else None
        )
    if as_json:
        out = {
            "as_of": day.isoformat(),
            "clinic": clinic.clinic_id if clinic else None,
            "packs": [{"id": p.id, "version": p.version} for p in engine.packs],
            "facts": [dict(f) for f in evaluation.facts],
            "rules": [e.to_dict() for e in explanations],
            "decision_id": entry["decision_id"] if entry else None,
        }
        click.echo(json.dumps(out, indent=2, ensure_ascii=False, default=str))
        return
    _print_explanations(day, engine, explanations)
    if entry is not None:
        console.print(
            f"[dim]decision {escape(entry['decision_id'])} logged to {escape(decision_log)}[/]",
            highlight=False,
        )


def _print_explanations(
    day: dt.date, engine: Engine, explanations: Iterable[RuleExplanation]
) -> None:
    packs = ", ".join(f"{p.id} {p.version}" for p in engine.packs)
    console.print(
        f"[bold]Explanation as of {day.isoformat()}[/] (rule packs: {escape(packs)})",
        highlight=False,
    )
    items = list(explanations)
    fired = [e for e in items if e.status == "fired"]
    console.print(f"\n[bold]Fired ({len(fired)})[/]")
    for e in fired:
        for card in e.cards or ():
            console.print(
                f"[{STYLE[card.indicator]}] {card.indicator.upper()} [/] {escape(e.key)}: "
                f"{escape(card.summary)}",
                highlight=False,
            )
            if card.suppressed_by:
                console.print(
                    f"  [dim]set aside: {escape(card.suppression or '')} "
                    f"[{escape(card.suppressed_by)}][/]",
                    highlight=False,
                )
        if not e.cards:
            console.print(f"{escape(e.key)} (no card of its own)", highlight=False)
        for match in e.matched:
            shown = "; ".join(
                f"{alias} = {fmt_value(fields)}"
                if not isinstance(fields, dict)
                else f"{alias}: " + ", ".join(f"{k} = {fmt_value(v)}" for k, v in fields.items())
                if fields
                else alias
                for alias, fields in match.items()
            )
            console.print(f"    on {escape(shown)}", highlight=False)
        if e.parameters:
            params = ", ".join(f"{k} = {fmt_value(v)}" for k, v in e.parameters.items())
            console.print(f"    [dim]parameters: {escape(params)}[/]", highlight=False)
    silent = [e for e in items if e.status == "silent"]
    console.print(f"\n[bold]Did not fire ({len(silent)})[/]")
    for e in silent:
        console.print(f"{escape(e.key)}: {escape(e.reason or '')}", highlight=False)
    disabled = [e for e in items if e.status == "disabled"]
    if disabled:
        console.print(
            f"\n[bold]Disabled ({len(disabled)})[/]: " + escape(", ".join(e.key for e in disabled))
        )


explain = explain_cmd  # the name the main CLI adds: cli.add_command(explain)
