"""The ``stridewise`` command line."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import json
import os
import sys
import zoneinfo
from collections.abc import Callable, Sequence
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import platformdirs

from stridewise.cli_shell import (
    STYLE,
    ShellGroup,
    console,
    date_option,
    err_console,
    escape,
    note_incomplete,
    plain,
    plugin_host,
    read_journal_option,
    warn,
    warn_plugin_errors,
)
from stridewise.engine.errors import StridewiseError
from stridewise.plugins import PluginHost, Skipped

# Imported where they are used, so `stridewise --help` and `--version` stay fast (a command
# imports what it needs when it runs).
if TYPE_CHECKING:
    from stridewise.engine.cards import Card
    from stridewise.engine.events import Event
    from stridewise.engine.facts import History
    from stridewise.engine.runtime import Engine, Evaluation, Evaluator
    from stridewise.importer import ImportResult, ReadHints
    from stridewise.store import Store

DEMO_AS_OF = dt.date(2026, 10, 31)


def default_journal() -> Path:
    """Where ``stridewise log`` writes unless told otherwise."""
    env = os.environ.get("STRIDEWISE_JOURNAL")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("stridewise")) / "journal.yaml"


def _journal_to_write(journal: Path | None) -> Path:
    """The journal ``stridewise log`` writes: ``--journal``, ``$STRIDEWISE_JOURNAL`` or the
    default. Only the default's folder (stridewise's own data folder) may be created; a path
    you gave must be in a folder that exists (a typo must not create a tree of folders)."""
    if journal is not None:
        given, how = journal, f"--journal {journal}"
    elif os.environ.get("STRIDEWISE_JOURNAL"):
        given = Path(os.environ["STRIDEWISE_JOURNAL"])
        how = f"STRIDEWISE_JOURNAL={given}"
    else:
        return default_journal()
    folder = given.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise StridewiseError(f"{how}: the folder {folder} {what}; create it first")
    return given


#: Commands defined in other modules: (module, attribute, the line `--help` shows). They are
#: imported when invoked, not when `--help` lists them.
_LAZY_COMMANDS = {
    "explain": (
        "stridewise.cli_rulesets",
        "explain",
        "Import PATHS and show which rules fired on which facts, and why the others did not.",
    ),
    "rulesets": (
        "stridewise.cli_rulesets",
        "rulesets",
        "List, test and lint rule packs; check clinic profiles.",
    ),
    "serve": (
        "stridewise.service.cli",
        "serve",
        "Run the HTTP service (REST API and CDS Hooks) until stopped.",
    ),
    "clinic": (
        "stridewise.service.cli",
        "clinic",
        "Add clinics to the service (each gets an API key) and revoke keys.",
    ),
    "spark-job": (
        "stridewise.spark.job",
        "command",
        "Evaluate many athletes on Apache Spark: read events (Parquet or JSON lines) from INPUT, "
        "write one Parquet row per card to OUTPUT.",
    ),
    "new": (
        "stridewise.scaffold",
        "new",
        "Start a plugin package: an adapter (plugin) or a rule pack (pack), with tests.",
    ),
}


class _LazyGroup(ShellGroup):
    """The top-level group: commands from other modules and from plugins load on demand.

    ``--version`` and a built-in command load no plugin; ``--help`` (which lists every command)
    and an unknown command name load the third-party plugins' entry points to collect the
    commands they add through ``stridewise_register_commands`` (each within the plugin time
    budget; the plugins that ship with stridewise add none, and are not imported for it).
    """

    plugin_commands_loaded = False

    def _load_plugin_commands(self) -> None:
        if self.plugin_commands_loaded:
            return
        self.plugin_commands_loaded = True
        host = PluginHost(entry_points=False)
        host.load_entry_points(third_party_only=True)
        host.register_commands(self)
        for error in host.errors:
            warn(error)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in _LAZY_COMMANDS:
            module, attribute, _ = _LAZY_COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        if command is None and not self.plugin_commands_loaded:
            self._load_plugin_commands()
            command = self.commands.get(cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return sorted({*self.commands, *_LAZY_COMMANDS})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, but a command not imported yet shows its line from `_LAZY_COMMANDS`."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        rows = []
        for name in names:
            command = self.commands.get(name)
            if command is None:  # not imported yet
                command = click.Command(name, help=_LAZY_COMMANDS[name][2])
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup)
@click.version_option(package_name="stridewise")
def cli() -> None:
    """Sourced recommendations that keep runners clear of bone stress injuries."""


# ---------------------------------------------------------------------------------------------
# Importing
# ---------------------------------------------------------------------------------------------


def _import(
    paths: Sequence[str],
    host: PluginHost,
    *,
    quiet: bool = False,
    hints: ReadHints | None = None,
) -> ImportResult:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from stridewise.importer import import_paths

    show = not quiet and err_console.is_terminal
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        transient=True,
        disable=not show,
    ) as bar:
        task = bar.add_task("importing", total=None)

        def tick(path: Path) -> None:
            bar.update(task, advance=1, description=f"importing {escape(path.name[:40])}")

        result = import_paths(paths, host, progress=tick, workers=0, hints=hints)
    warn_plugin_errors(host)  # each plugin error once per run
    return result


def _print_skipped(result: ImportResult) -> None:
    for s in result.skipped:
        err_console.print(f"[yellow]skipped[/] {escape(s)}", highlight=False)
    for note in result.notes:  # imported, but something was decided for you: say what
        err_console.print(f"[cyan]note:[/] {escape(note)}", highlight=False)


def _check_tz(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not a time zone name like Europe/Berlin or America/Sao_Paulo"
        ) from None
    return value


class _SportChoice(click.Choice[str]):
    """The sports, read from the event model when first needed (its import is heavy)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from stridewise.engine.events import CROSS_SPORTS, RUN_SPORTS

        return (*RUN_SPORTS, *CROSS_SPORTS)

    @choices.setter
    def choices(self, value: Any) -> None:
        pass  # fixed by the event model


def _read_hint_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--sport and --tz: what files may not say, shared by import, report and events."""
    f = click.option(
        "--tz",
        "home_tz",
        default=None,
        callback=_check_tz,
        help="Your home time zone (e.g. America/Sao_Paulo) for times stored without one "
        "(Strava's activities.csv); default: this computer's. An activity file's own UTC "
        "offset wins.",
    )(f)
    return click.option(
        "--sport",
        "sport_hint",
        type=_SportChoice(),
        default=None,
        help="The sport of activities whose file does not say (a GPX without <type>); "
        "without it, running is inferred from the speeds where they clearly say so.",
    )(f)


def _evaluation_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--profile, --decision-log, --athlete, --all, --isolated and --html, shared by demo and
    report."""
    f = click.option(
        "--html",
        "html_out",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        metavar="FILE",
        help="Also write the report as one self-contained HTML page with charts (opens "
        "offline; needs the 'html' extra: pip install 'stridewise[html]').",
    )(f)
    f = click.option(
        "--isolated",
        is_flag=True,
        help="Run the rules in a worker process: a crash in the rules core is reported as an "
        "error (after one retry) instead of ending stridewise.",
    )(f)
    f = click.option(
        "--all",
        "show_all",
        is_flag=True,
        help="Also print the cards that fired but were set aside, and why.",
    )(f)
    f = click.option(
        "--athlete",
        default=None,
        help="Athlete id for card uuids and the decision log (stored hashed there).",
    )(f)
    f = click.option(
        "--decision-log",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Append this evaluation to a JSON-lines decision log (audit).",
    )(f)
    return click.option(
        "--profile",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        default=None,
        help="Clinic profile: which packs, tuned parameters, disabled rules, wording.",
    )(f)


def _db_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="History database (default: $STRIDEWISE_DB or the user data folder).",
    )(f)


def _events_from(
    paths: Sequence[str],
    db: Path | None,
    host: PluginHost,
    quiet: bool,
    hints: ReadHints | None = None,
    journal: Path | None = None,
) -> list[Event]:
    """Events from PATHS; without PATHS, the stored history plus your journal (if there is one).

    What could not be read is said on stderr and noted on the command run, so the command ends
    non-zero with an "incomplete" error (see :func:`stridewise.cli_shell.guarded`). ``report``
    uses :func:`_read_input` and says it in the report itself.
    """
    events, skipped = _read_input(paths, db, host, quiet, hints, journal)
    note_incomplete(skipped)
    return events


def _read_input(
    paths: Sequence[str],
    db: Path | None,
    host: PluginHost,
    quiet: bool,
    hints: ReadHints | None = None,
    journal: Path | None = None,
) -> tuple[list[Event], list[Skipped]]:
    """The events and what was skipped (files, rows, unreadable stored rows).

    Reading creates nothing: without a database file, there is no stored history. An
    explicitly given ``journal`` (``--journal``) must exist.
    """
    from stridewise.engine.events import deduplicate
    from stridewise.store import Store, default_db_path

    if paths:
        if journal is not None:
            raise click.UsageError(
                "--journal is read with the stored history when no PATHS are given; with "
                "PATHS, list the journal among them"
            )
        result = _import(paths, host, quiet=quiet, hints=hints)
        _print_skipped(result)
        if not result.events:
            raise StridewiseError("nothing was imported, so there is nothing to evaluate")
        return result.events, list(result.skipped)
    skipped: list[Skipped] = []
    events: list[Event] = []
    db_path = db or default_db_path()
    if db_path.exists():
        with Store(db_path) as store:
            events = store.load()
            _warn_store(store)
            skipped += [
                Skipped(str(store.path), f"{bad}; see 'stridewise db check --repair'")
                for bad in store.problems
            ]
    elif db is not None:
        raise StridewiseError(f"--db {db}: no stored history there (no such database file)")
    if journal is not None and not journal.is_file():
        raise StridewiseError(f"--journal {journal}: no such journal file")
    journal = journal or default_journal()
    journal_problem = ""
    if journal.exists():  # what `stridewise log` wrote counts without an import step
        result = _import([str(journal)], host, quiet=True)
        _print_skipped(result)
        skipped += result.skipped
        if not result.events:
            first = result.skipped[0] if result.skipped else None
            journal_problem = (
                f"the journal {journal} is invalid: "
                + (f"row {first.row}: " if first.row is not None else "")
                + first.reason
                + (f" (and {len(result.skipped) - 1} more)" if len(result.skipped) > 1 else "")
                if first is not None
                else f"the journal {journal} holds no entries"
            )
        events, _ = deduplicate([*events, *result.events])
    if not events:
        stored = (
            f"no stored history in {db_path}"
            if db_path.exists()
            else f"no history database at {db_path}"
        )
        if journal_problem:
            raise StridewiseError(f"{stored}, and {journal_problem}")
        raise StridewiseError(
            f"{stored} and no journal at {journal}: run "
            "'stridewise import PATH...' or 'stridewise log ...' first, or give PATHS"
        )
    return events, skipped


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-store", is_flag=True, help="Only read and summarise; keep nothing.")
@_db_option
@_read_hint_options
def import_cmd(
    paths: tuple[str, ...],
    as_json: bool,
    no_store: bool,
    db: Path | None,
    sport_hint: str | None,
    home_tz: str | None,
) -> None:
    """Read PATHS (Strava/Garmin exports, FIT/TCX/GPX files or folders, journals) and keep them.

    The history is stored in a local SQLite database; importing the same files again changes
    nothing, and a newer export adds only what is new.
    """
    from rich.table import Table

    from stridewise.importer import ReadHints
    from stridewise.store import Store

    hints = ReadHints(sport=sport_hint, tz=home_tz)
    result = _import(paths, plugin_host(), quiet=as_json, hints=hints)
    summary = result.summary()
    nothing = not result.events and bool(result.skipped or not result.files_read)
    if not no_store and not nothing:
        with Store(db) as store:
            saved = store.save(result.events, summary)
            _warn_store(store)
            summary["stored"] = {
                "database": str(store.path),
                "new_events": saved.added,
                "merged_with_stored": saved.merged - result.duplicates_merged,
                "total_events": saved.total,
            }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        if nothing:
            raise StridewiseError("nothing could be read from the given paths; nothing was stored")
        return
    table = Table(title="Import summary", show_header=True)
    table.add_column("source")
    table.add_column("activities", justify="right")
    for source, n in sorted(result.activities_by_source.items()):
        table.add_row(escape(source), str(n))
    console.print(table)
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(result.events_by_kind.items()))
    console.print(f"files read: {result.files_read}; events: {escape(kinds or 'none')}")
    console.print(f"duplicates merged across sources: {result.duplicates_merged}")
    console.print(f"skipped: {len(result.skipped)}")
    if "stored" in summary:
        st = summary["stored"]
        console.print(
            f"stored in {escape(st['database'])}: {st['new_events']} new events, "
            f"{st['total_events']} in all"
        )
    _print_skipped(result)
    if nothing:
        raise StridewiseError("nothing could be read from the given paths; nothing was stored")


def _warn_store(store: Store) -> None:
    """Name every stored row that could not be read (they were skipped; the rest counts)."""
    for bad in store.problems:
        err_console.print(
            f"[yellow]warning:[/] {escape(store.path)}: {escape(bad)}; skipped "
            "(see 'stridewise db check --repair')",
            highlight=False,
        )


@cli.group("db")
def db_group() -> None:
    """Check and repair the stored history."""


@db_group.command("check")
@click.option(
    "--repair",
    is_flag=True,
    help="Move unreadable rows out of the history into a file beside it (nothing is deleted "
    "without a copy).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@_db_option
def db_check(repair: bool, as_json: bool, db: Path | None) -> None:
    """Read every stored event back through the event schema, and run SQLite's own check.

    Exits 1 when something is wrong and was not repaired.
    """
    from stridewise.store import Store, default_db_path

    path = db or default_db_path()
    if not path.exists():
        raise StridewiseError(f"{path}: there is no history here yet, so nothing to check")
    with Store(path) as store:
        found = store.check()
        moved: list[Any] = []
        backup = None
        if repair and found.bad_rows:
            moved, backup = store.repair()
    fixed = bool(moved) and found.integrity == ("ok",)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "database": str(found.path),
                    "events": found.events,
                    "integrity": list(found.integrity),
                    "bad_rows": [dataclasses.asdict(b) for b in found.bad_rows],
                    "repaired": [dataclasses.asdict(b) for b in moved],
                    "moved_to": str(backup) if backup else None,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        click.echo(
            f"{plain(found.path)}: {found.events} readable events, "
            f"{len(found.bad_rows)} unreadable row(s); "
            f"SQLite check: {plain('; '.join(found.integrity))}"
        )
        for bad in found.bad_rows:
            click.echo(f"  {plain(bad)}")
        if moved:
            click.echo(
                f"repaired: {len(moved)} row(s) moved out of the history into {plain(backup)}"
            )
        elif found.bad_rows:
            click.echo("run 'stridewise db check --repair' to move them out")
    if not (found.ok or fixed):
        sys.exit(1)


@cli.command("events")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--jsonl", is_flag=True, default=True, help="One JSON event per line (default).")
@_db_option
@_read_hint_options
def events_cmd(
    paths: tuple[str, ...],
    jsonl: bool,
    db: Path | None,
    sport_hint: str | None,
    home_tz: str | None,
) -> None:
    """Print the normalized events read from PATHS (or stored), in the published schema."""
    from stridewise.engine.events import dump_event
    from stridewise.importer import ReadHints

    hints = ReadHints(sport=sport_hint, tz=home_tz)
    events = _events_from(paths, db, plugin_host(), quiet=True, hints=hints)
    for event in sorted(events, key=lambda e: (e.kind, e.id)):
        click.echo(json.dumps(dump_event(event), ensure_ascii=False))


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


def _report(
    history: History,
    as_of: dt.date | None,
    *,
    as_json: bool,
    title: str,
    host: PluginHost,
    extra_packs: Sequence[str] = (),
    profile: Path | None = None,
    decision_log: Path | None = None,
    athlete: str = "athlete",
    show_all: bool = False,
    isolated: bool = False,
    html_out: Path | None = None,
    skipped: Sequence[Skipped] = (),
) -> None:
    """Evaluate and print. Input that was ``skipped`` makes the report incomplete: it says so
    in the text, the JSON and the HTML, and exits 1 (fewer cards must never read as all clear).
    """
    from rich.panel import Panel

    from stridewise.cli_rulesets import engine_for
    from stridewise.engine.cards import fmt_value
    from stridewise.engine.packs import DecisionLog, load_profile, record

    clinic = load_profile(profile) if profile is not None else None
    engine = engine_for(host, profile=clinic, extra=[Path(p) for p in extra_packs])
    _check_red_flags_loaded(engine)
    day = as_of or dt.date.today()  # today: what was logged today (a profile) counts
    log = DecisionLog(decision_log) if decision_log is not None else None
    card_athlete = log.hash_athlete(athlete) if log is not None else athlete
    if isolated:  # the rules core runs in a worker: its crash is an error, not ours
        from stridewise.engine.isolation import IsolatedEngine

        with IsolatedEngine.from_engine(engine, workers=1) as worker:
            evaluation = worker.evaluate_facts(history.facts(day), day, athlete=card_athlete)
            if html_out is not None:  # the days it charts are evaluated in the worker too
                _write_html(
                    html_out, history, day, engine, evaluation, worker, card_athlete, title, skipped
                )
    else:
        evaluation = engine.evaluate_facts(history.facts(day), day, athlete=card_athlete)
        if html_out is not None:
            _write_html(
                html_out, history, day, engine, evaluation, None, card_athlete, title, skipped
            )
    cards = list(evaluation.cards)
    entry = None
    if log is not None:
        entry = record(
            log, engine, evaluation, athlete, clinic=clinic.clinic_id if clinic else None
        )
    if as_json:
        out: dict[str, Any] = {
            "as_of": day.isoformat(),
            "cards": [c.to_dict() for c in cards],
            # Nothing is hidden silently: what fired and does not show, with who replaced it.
            "suppressed": [c.to_dict() for c in evaluation.suppressed],
            # Input that could not be read: the cards above were found without it.
            "complete": not skipped,
            "skipped": [{"file": s.file, "row": s.row, "reason": s.reason} for s in skipped],
        }
        if entry is not None:
            out["decision_id"] = entry["decision_id"]
        if evaluation.failures:
            # A pack that failed is an error, never a quieter report.
            out["errors"] = [f.to_dict() for f in evaluation.failures]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        if evaluation.failures or skipped:
            sys.exit(1)
        return
    training = next(f for f in history.facts(day) if f["type"] == "training")
    console.print(
        Panel.fit(
            f"[bold]{title}[/] as of {day.isoformat()}\n"
            f"history: {training.get('days_of_history', 0)} days; "
            f"last 7 days: {fmt_value(training.get('load_7d_km', 0))} km; "
            f"last 28 days: {fmt_value(training.get('load_28d_km', 0))} km; "
            f"rule packs: {escape(', '.join(f'{p.id} {p.version}' for p in engine.packs))}",
        )
    )
    for failure in evaluation.failures:
        err_console.print(
            f"[bold red]error:[/] {escape(str(failure))}: this pack's findings are missing from "
            "the report below; do not read it as complete",
            highlight=False,
        )
    if skipped:
        console.print(
            f"[bold white on red] INCOMPLETE [/] [bold]{len(skipped)} input(s) could not be read "
            "and are not in this report: fewer cards do not mean all clear.[/] Fix them and run "
            "again:",
            highlight=False,
        )
        for s in skipped:
            console.print(f"  - {escape(s)}", highlight=False, soft_wrap=True)
        console.print()
    if not cards and not evaluation.failures:
        if skipped:
            console.print(
                "No recommendations from the input that could be read; what was skipped may "
                "hold what calls for one."
            )
        else:
            console.print("No recommendations today: nothing in the data calls for one.")
    for card in cards:
        _print_card(card)
    hidden = evaluation.suppressed
    if hidden and show_all:
        console.print(f"[bold]Also fired, set aside ({len(hidden)}):[/]\n")
        for card in hidden:
            _print_card(card)
    elif hidden:
        console.print(
            f"[dim]{len(hidden)} more finding(s) fired and were set aside in favour of the cards "
            "above (merged, superseded or contradicting them): see them with --all.[/]"
        )
    if entry is not None:
        console.print(
            f"[dim]decision {escape(entry['decision_id'])} logged to {escape(decision_log)}[/]"
        )
    if skipped:  # said again at the end, where a long report is finished reading
        console.print(
            f"[bold white on red] INCOMPLETE [/] {len(skipped)} input(s) were left out (listed at "
            "the top): fewer cards do not mean all clear.",
            highlight=False,
        )
    if evaluation.failures or skipped:
        sys.exit(1)


def _check_red_flags_loaded(engine: Engine) -> None:
    """No rule packs, or none with the red-flag rules, is an error: never an all-clear."""
    blocked = os.environ.get("STRIDEWISE_BLOCK_PLUGINS", "")
    hint = (
        f" (STRIDEWISE_BLOCK_PLUGINS={blocked} blocks the built-in packs)"
        if "builtin_rulesets" in blocked
        else " (see 'stridewise plugins' and 'stridewise rulesets list')"
    )
    if not engine.packs:
        raise StridewiseError(
            "no rule packs loaded, so nothing could be checked, the red-flag rules (see a "
            f"physician) included{hint}"
        )
    if not any(p.protected_rules for p in engine.packs):
        loaded = ", ".join(p.id for p in engine.packs)
        raise StridewiseError(
            f"the red-flag rules (see a physician) are not loaded, only {loaded}: a report "
            f"without them could miss a stress fracture{hint}"
        )


def _write_html(
    path: Path,
    history: History,
    day: dt.date,
    engine: Engine,
    evaluation: Evaluation,
    evaluator: Evaluator | None,
    athlete: str,
    title: str,
    skipped: Sequence[Skipped] = (),
) -> None:
    """``report``/``demo --html FILE``: the same evaluation as one self-contained HTML page."""
    from stridewise.report_html import write_report

    write_report(
        path,
        history,
        day,
        engine,
        evaluation=evaluation,
        evaluator=evaluator,
        athlete=athlete,
        title=title,
        skipped=[str(s) for s in skipped],
    )
    err_console.print(f"HTML report written to {escape(path)}", highlight=False)


def _print_card(card: Card) -> None:
    from rich.markdown import Markdown

    from stridewise.engine.cards import fmt_value

    if card.suppressed_by:
        console.print(
            f"[dim]SET ASIDE ({card.indicator}): {escape(card.summary)}\n"
            f"  because {escape(card.suppression)} {escape(f'[{card.suppressed_by}]')}[/]\n",
            highlight=False,
        )
        return
    console.print(
        f"[{STYLE[card.indicator]}] {card.indicator.upper()} [/] [bold]{escape(card.summary)}[/]"
    )
    console.print(Markdown(plain(card.detail, lines=True)))
    why = "; ".join(
        ", ".join(
            f"{alias}.{k} = {fmt_value(v)}"
            for alias, fields in match.items()
            if isinstance(fields, dict)
            for k, v in fields.items()
            if k != "type"
        )
        or ", ".join(f"{k} = {fmt_value(v)}" for k, v in match.items())
        for match in card.facts
    )
    params = ", ".join(f"{k} = {fmt_value(v)}" for k, v in card.parameters.items())
    console.print(
        f"[dim]Why:[/] {escape(why or 'see detail')}"
        + (f" [dim](parameters: {escape(params)})[/]" if params else ""),
        highlight=False,
    )
    for src in card.sources or (card.source,):
        console.print(
            f"[dim]Source:[/] {escape(src['label'])}"
            + (" " + escape("<" + str(src["url"]) + ">") if "url" in src else ""),
            highlight=False,
        )
    console.print(
        f"[dim]Rule: {escape(f'{card.ruleset_id} {card.ruleset_version} / {card.rule_id}')}[/]\n",
        highlight=False,
    )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON (CDS Hooks shape).")
@click.option(
    "--as-of",
    "as_of",
    callback=date_option,
    metavar="YYYY-MM-DD",
    help="Evaluate as of this date (default: the sample's day, 2026-10-31).",
)
@_evaluation_options
def demo(
    as_json: bool,
    as_of: dt.date | None,
    profile: Path | None,
    decision_log: Path | None,
    athlete: str | None,
    show_all: bool,
    isolated: bool,
    html_out: Path | None,
) -> None:
    """Run the bundled sample athlete and print the recommendations."""
    from stridewise.engine.facts import History

    resource = files("stridewise").joinpath("data/demo_athlete.yaml")
    host = plugin_host()
    with as_file(resource) as path:
        result = _import([str(path)], host, quiet=True)
    if result.skipped:
        _print_skipped(result)
    day = as_of or DEMO_AS_OF
    _report(
        History(result.events),
        day,
        as_json=as_json,
        title="Sample athlete",
        host=host,
        profile=profile,
        decision_log=decision_log,
        athlete=athlete or "demo",
        show_all=show_all,
        isolated=isolated,
        html_out=html_out,
        skipped=result.skipped,
    )


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the cards as JSON (CDS Hooks shape).")
@click.option(
    "--as-of",
    "as_of",
    callback=date_option,
    metavar="YYYY-MM-DD",
    help="Date to evaluate (default: today).",
)
@click.option(
    "--pack",
    "packs",
    multiple=True,
    type=click.Path(exists=True),
    help="Extra rule pack file or folder.",
)
@_db_option
@read_journal_option
@_read_hint_options
@_evaluation_options
def report(
    paths: tuple[str, ...],
    as_json: bool,
    as_of: dt.date | None,
    packs: tuple[str, ...],
    db: Path | None,
    journal: Path | None,
    sport_hint: str | None,
    home_tz: str | None,
    profile: Path | None,
    decision_log: Path | None,
    athlete: str | None,
    show_all: bool,
    isolated: bool,
    html_out: Path | None,
) -> None:
    """Import PATHS and print the recommendations (no PATHS: stored history and journal)."""
    from stridewise.engine.facts import History
    from stridewise.importer import ReadHints

    host = plugin_host()
    hints = ReadHints(sport=sport_hint, tz=home_tz)
    events, skipped = _read_input(paths, db, host, as_json, hints, journal)
    history = History(events)
    _report(
        history,
        as_of,
        as_json=as_json,
        title="Report",
        host=host,
        extra_packs=packs,
        profile=profile,
        decision_log=decision_log,
        athlete=athlete or ",".join(paths) or str(db or "stored history"),
        show_all=show_all,
        isolated=isolated,
        html_out=html_out,
        skipped=skipped,
    )


# ---------------------------------------------------------------------------------------------
# The journal
# ---------------------------------------------------------------------------------------------


@cli.group()
def log() -> None:
    """Append an entry to your journal (atomic: a failed command changes nothing)."""


def _journal_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--journal",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Journal file (default: $STRIDEWISE_JOURNAL or the user data folder).",
    )(f)


def _append(journal: Path | None, kind: str, entry: dict[str, Any]) -> None:
    from stridewise.adapters.journal import append_entry

    path = _journal_to_write(journal)
    entry = {k: v for k, v in entry.items() if v is not None and v is not False}
    event = append_entry(path, kind, entry)
    click.echo(f"added {kind} {plain(event.id)} to {plain(path)}")


@log.command("run")
@_journal_option
@click.option("--date", "date_", required=True, help="Date of the run (YYYY-MM-DD).")
@click.option("--distance-km", type=float, required=True)
@click.option("--time", "time_", help="Moving time, mm:ss or h:mm:ss.")
@click.option("--start-time", help="Local start time HH:MM (default 07:00).")
@click.option("--utc-offset", help="Local UTC offset, e.g. +01:00.")
@click.option("--shoe", help="Shoe id.")
@click.option("--rpe", type=float, help="Perceived effort 0-10.")
@click.option("--cadence", "cadence_spm", type=float, help="Average cadence, steps/min.")
@click.option(
    "--surface",
    type=click.Choice(["road", "trail", "track", "treadmill", "grass", "sand", "mixed"]),
)
def log_run(journal: Path | None, date_: str, time_: str | None, **fields: Any) -> None:
    """Log a run."""
    shoe = fields.get("shoe")
    if shoe is not None:
        _check_shoe(_journal_to_write(journal), shoe)
    _append(journal, "run", {"date": date_, "time": time_, **fields})


def _check_shoe(journal: Path, shoe: str) -> None:
    """Refuse a shoe id nobody logged (a typo would count its kilometres on no pair)."""
    from stridewise.adapters.journal import read_journal
    from stridewise.engine.events import Shoe
    from stridewise.store import Store, default_db_path

    known: dict[str, str] = {}
    if journal.exists():
        for item in read_journal(journal):
            if isinstance(item, Shoe):
                known[item.id] = item.name
    db = default_db_path()
    if shoe not in known and db.exists():
        with contextlib.suppress(StridewiseError), Store(db) as store:
            known.update((e.id, e.name) for e in store.load(kinds=["shoe"]) if isinstance(e, Shoe))
    if shoe in known:
        return
    listed = ", ".join(f"{k} ({v})" for k, v in sorted(known.items())) or "none yet"
    raise StridewiseError(
        f"--shoe {shoe!r} is not a pair you have logged (known shoes: {listed}); add it "
        f"first: stridewise log shoe --id {shoe} --name NAME"
    )


@log.command("pain")
@_journal_option
@click.option("--date", "date_", required=True, help="Date of the pain (YYYY-MM-DD).")
@click.option(
    "--site",
    required=True,
    help="Where it hurts, in your words: a region (shin, foot, ankle, heel, hip, groin, thigh, "
    "knee), a spot ('front of shin', 'inner shin', 'top of midfoot', 'base of fifth "
    "metatarsal', 'under big toe', 'inner ankle') or a bone (tibia, fibula, navicular, "
    "metatarsal, calcaneus, femoral neck, pelvis, sacrum); case and spaces do not matter.",
)
@click.option("--severity", type=click.IntRange(0, 10), required=True, help="Pain 0-10.")
@click.option("--side", type=click.Choice(["left", "right", "both", "none"]), default="none")
@click.option("--with-activity", is_flag=True, help="It hurts when you run.")
@click.option("--after-rest", is_flag=True, help="It lingers after rest.")
@click.option("--at-rest", is_flag=True, help="It hurts while you sit or stand still.")
@click.option("--at-night", is_flag=True, help="It hurts at night or wakes you up.")
@click.option("--swelling", is_flag=True, help="The painful spot is swollen.")
@click.option("--point-tenderness", is_flag=True, help="One spot on the bone is tender to touch.")
@click.option("--hop-pain", is_flag=True, help="Hopping on that leg hurts.")
@click.option("--worsening", is_flag=True, help="It is getting worse.")
@click.option("--stopped-run", is_flag=True, help="The pain made you stop a run.")
@click.option("--note", help="Anything else, in your words (kept in the journal).")
def log_pain(journal: Path | None, date_: str, **fields: Any) -> None:
    """Log a pain report."""
    _append(journal, "pain", {"date": date_, **fields})


@log.command("shoe")
@_journal_option
@click.option("--id", "id_", required=True, help="Short id you will use with --shoe.")
@click.option("--name", required=True, help="The pair's name, as reports show it.")
@click.option("--model", help="Maker and model.")
@click.option("--first-used", help="Date of the first run in them (YYYY-MM-DD).")
@click.option("--retired", help="Date you stopped running in them (YYYY-MM-DD).")
@click.option(
    "--start-distance-km",
    type=float,
    default=0.0,
    help="Kilometres they had before the runs stridewise knows of.",
)
def log_shoe(journal: Path | None, id_: str, start_distance_km: float, **fields: Any) -> None:
    """Add a pair of shoes."""
    _append(journal, "shoe", {"id": id_, "start_distance_km": start_distance_km, **fields})


@log.command("nutrition")
@_journal_option
@click.option("--date", "date_", required=True, help="The day (YYYY-MM-DD).")
@click.option("--energy-intake-kcal", type=float)
@click.option("--exercise-energy-kcal", type=float)
@click.option("--fat-free-mass-kg", type=float)
@click.option("--calcium-mg", type=float)
@click.option("--vitamin-d-iu", type=float)
@click.option("--serum-25ohd-nmol-l", type=float)
def log_nutrition(journal: Path | None, date_: str, **fields: Any) -> None:
    """Log a day's nutrition."""
    _append(journal, "nutrition", {"date": date_, **fields})


@log.command("injury")
@_journal_option
@click.option("--date", "date_", required=True, help="Date of diagnosis (YYYY-MM-DD).")
@click.option("--site", required=True, help="The bone or region, as for 'log pain --site'.")
@click.option("--side", type=click.Choice(["left", "right", "both", "none"]), default="none")
@click.option("--grade", type=click.IntRange(1, 4))
@click.option("--cleared", help="Date you were cleared to run (YYYY-MM-DD).")
@click.option(
    "--imaging-healed/--imaging-not-healed", default=None, help="What the latest scan showed."
)
@click.option(
    "--hop-test-pain",
    type=click.IntRange(0, 10),
    help="Worst pain (0-10) hopping 10-15 times on the injured leg.",
)
@click.option(
    "--strength-test-passed/--strength-test-failed",
    default=None,
    help="Result of the return-to-run strength test.",
)
def log_injury(journal: Path | None, date_: str, **fields: Any) -> None:
    """Log a diagnosed bone stress injury, or update it: log the same date, site and side
    again with the clearance date or test results."""
    from stridewise.adapters.journal import append_entry

    path = _journal_to_write(journal)
    entry = {"date": date_, **{k: v for k, v in fields.items() if v is not None}}
    event = append_entry(path, "injury", entry)  # keeps False: a failed test is information
    click.echo(f"added injury {plain(event.id)} to {plain(path)}")


@log.command("profile")
@_journal_option
@click.option("--recorded", default=None, help="Date of this profile (YYYY-MM-DD; default today).")
@click.option("--sex", type=click.Choice(["female", "male", "other"]))
@click.option("--birth-year", type=int)
@click.option("--height-m", type=float)
@click.option("--weight-kg", type=float)
@click.option(
    "--prior-bsi",
    "prior_bsi",
    multiple=True,
    metavar="SITE[,DATE[,SIDE]]",
    help="A past bone stress injury (stress fracture), e.g. 'front of shin,2024-05-01,left'; "
    "repeat for each one.",
)
@click.option("--menarche-age", "menarche_age_y", type=float, help="Age at your first period.")
@click.option(
    "--periods-last-12-months",
    "menses_last_12_months",
    type=click.IntRange(0, 20),
    help="How many periods you had in the last 12 months.",
)
@click.option(
    "--hormonal-contraception/--no-hormonal-contraception",
    "hormonal_contraception",
    default=None,
    help="Whether you use hormonal contraception (it can hide missing periods).",
)
@click.option(
    "--bmd-z-score",
    "bmd_z_score",
    type=float,
    help="Bone density Z-score from a DXA scan (e.g. -1.2).",
)
@click.option(
    "--eating-history",
    "disordered_eating",
    type=click.Choice(["none", "some_restriction", "current_or_past", "diagnosed"]),
    help="Restricting food or an eating disorder: none, some_restriction, current_or_past "
    "(a current or past eating disorder) or diagnosed (diagnosed by a clinician).",
)
@click.option(
    "--weight-loss-pct-month",
    type=float,
    help="Body weight lost in the last month, in percent.",
)
def log_profile(
    journal: Path | None, recorded: str | None, prior_bsi: tuple[str, ...], **fields: Any
) -> None:
    """Record your profile. Each field counts from the date it is recorded (sex, birth year,
    age at first period and past injuries for every date); later entries add to earlier ones."""
    from stridewise.adapters.journal import append_entry

    path = _journal_to_write(journal)
    entry: dict[str, Any] = {"recorded": recorded or dt.date.today().isoformat()}
    entry.update({k: v for k, v in fields.items() if v is not None})  # False is information
    if prior_bsi:
        entry["prior_bsi"] = [_prior_bsi(text) for text in prior_bsi]
    event = append_entry(path, "profile", entry)
    click.echo(f"added profile {plain(event.id)} to {plain(path)}")


def _prior_bsi(text: str) -> dict[str, str]:
    """One ``--prior-bsi SITE[,DATE[,SIDE]]``, each part checked (the error names the value)."""
    from stridewise.engine.events import SIDES, normalize_site

    def bad(why: str) -> click.BadParameter:
        return click.BadParameter(f"{text!r}: {why}", param_hint="'--prior-bsi'")

    parts = [p.strip() for p in text.split(",")]
    if not parts[0] or len(parts) > 3:
        raise bad("give SITE, SITE,DATE or SITE,DATE,SIDE (e.g. 'tibia,2024-05-01,left')")
    try:
        normalize_site(parts[0])
    except ValueError as exc:
        raise bad(str(exc)) from None
    out = {"site": parts[0]}
    if len(parts) > 1 and parts[1]:
        try:
            dt.date.fromisoformat(parts[1])
        except ValueError:
            raise bad(f"{parts[1]!r} is not a date like 2024-05-01") from None
        out["date"] = parts[1]
    if len(parts) > 2 and parts[2]:
        if parts[2] not in SIDES:
            raise bad(f"{parts[2]!r} is not a side: use {', '.join(SIDES)}")
        out["side"] = parts[2]
    return out


# ---------------------------------------------------------------------------------------------
# Plugins and schema
# ---------------------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True)
def plugins(as_json: bool) -> None:
    """List plugins (loaded, blocked, failed) and the order adapters are asked about a file."""
    from stridewise.plugins.render import plugins_json, print_plugins

    host = plugin_host()
    if as_json:
        click.echo(json.dumps(plugins_json(host), indent=2))
        return
    print_plugins(host, console, err_console)


@cli.command()
def schema() -> None:
    """Print the JSON Schema of the normalized events."""
    from stridewise.engine.events import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point (plugins load when a command needs them, never for --version)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="stridewise")


__all__ = ["cli", "main"]
