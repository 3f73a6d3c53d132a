"""The pytest plugin for stridewise plugin authors (``docs/testing-plugins.md``).

It is loaded automatically wherever stridewise is installed (the ``pytest11`` entry point
``stridewise.testing``), or explicitly with ``pytest -p stridewise.testing``. Its fixtures:

``stridewise_host``
    A fresh :class:`~stridewise.plugins.PluginHost` with no plugin loaded.
``stridewise_register(plugin, name=None, installed=False)``
    Register a plugin (module or object) in-process, as the entry point would; returns the
    host. Fails the test if the plugin does not register cleanly.
``stridewise_read(adapter, path)``
    Run an adapter on a file like ``stridewise import`` does: an :class:`AdapterRun` with the
    events, skips, notes, invalid events and the :class:`~stridewise.plugins.InputError`.
``stridewise_adapter_contract(adapter, good, junk=())``
    Check the adapter contract: recognises its good files, refuses junk cheaply without
    raising, never yields invalid events, names the file in every skip, note and error.
``stridewise_pack_cases(*sources, min_coverage=100.0)``
    Run the test cases inside rule packs and check their rule coverage.
``stridewise_entry_point(name)``
    Load an installed plugin through its ``stridewise`` entry point, as the CLI does.
``stridewise_cli(*args, plugins=())``
    Run a ``stridewise`` command in this process, with plugins that are not installed loaded
    as if they were, and the history, journal and caches in the test's temporary folder.

The same checks are plain functions (:func:`read_with`, :func:`adapter_contract_problems`,
:func:`run_pack_cases`) for use outside pytest. Nothing heavy is imported until a fixture
is used, so the plugin costs nothing in test runs that do not use it.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import io
import os
import random
from collections.abc import Callable, Iterable, Iterator
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stridewise.plugins import (
    Adapter,
    InputError,
    PluginHost,
    PluginInfo,
    Skipped,
    plugins_in_process,
)

if TYPE_CHECKING:
    from stridewise.engine.events import Event
    from stridewise.engine.packs import TestReport

#: How much of a file ``recognise`` may read (through Python's ``open``) to decide.
RECOGNISE_MAX_BYTES = 64 * 1024
#: Size of the large junk file: an adapter that reads a whole file to recognise it shows.
BIG_JUNK_BYTES = 4 * 1024 * 1024

__all__ = [
    "BIG_JUNK_BYTES",
    "OTHER_FORMATS",
    "RECOGNISE_MAX_BYTES",
    "AdapterRun",
    "CliResult",
    "adapter_contract_problems",
    "junk_files",
    "pack_report_problems",
    "read_with",
    "run_pack_cases",
]


# ---------------------------------------------------------------------------------------------
# Running an adapter
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class AdapterRun:
    """What one adapter made of one file.

    ``events`` passed the event schema; ``invalid`` describes each event that did not (the
    importer refuses those); ``other`` holds anything yielded that is neither an event, a
    :class:`~stridewise.plugins.Skipped` nor a :class:`~stridewise.plugins.Note`; ``error`` is
    the :class:`~stridewise.plugins.InputError` that ended the read, if any.
    """

    path: Path
    events: list[Event] = dataclasses.field(default_factory=list)
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    notes: list[Any] = dataclasses.field(default_factory=list)
    invalid: list[str] = dataclasses.field(default_factory=list)
    other: list[Any] = dataclasses.field(default_factory=list)
    error: InputError | None = None

    @property
    def kinds(self) -> list[str]:
        """The kind of each event, in order (``["run", "run", "shoe"]``)."""
        return [e.kind for e in self.events]


def read_with(adapter: Adapter, path: Path | str) -> AdapterRun:
    """Read ``path`` with ``adapter`` and sort what it yields (see :class:`AdapterRun`).

    Each event is checked through the published schema (``load_event(dump_event(event))``),
    as the importer does for third-party adapters. An ``InputError`` is kept in ``error``;
    any other exception propagates (it is a bug in the adapter).
    """
    from stridewise.engine.events import EVENT_CLASSES, dump_event, load_event
    from stridewise.importer import Note

    path = Path(path)
    run = AdapterRun(path)
    event_types = tuple(EVENT_CLASSES.values())
    try:
        for item in adapter.read(path):
            if isinstance(item, Skipped):
                run.skipped.append(item)
            elif isinstance(item, Note):
                run.notes.append(item)
            elif isinstance(item, event_types):
                try:
                    run.events.append(load_event(dump_event(item)))
                except InputError as exc:
                    run.invalid.append(f"{item.kind} event {item.id!r}: {exc.reason}")
                except Exception as exc:  # a dataclass filled with values of the wrong type
                    run.invalid.append(f"malformed {item.kind} event: {type(exc).__name__}: {exc}")
            else:
                run.other.append(item)
    except InputError as exc:
        run.error = exc
    return run


# ---------------------------------------------------------------------------------------------
# The adapter contract
# ---------------------------------------------------------------------------------------------


class _Meter:
    def __init__(self) -> None:
        self.bytes = 0


class _Counted:
    """A file object that counts what is read from it."""

    def __init__(self, raw: Any, meter: _Meter) -> None:
        self._raw = raw
        self._meter = meter

    def _count(self, data: Any) -> Any:
        self._meter.bytes += len(data) if data is not None else 0
        return data

    def read(self, *args: Any) -> Any:
        return self._count(self._raw.read(*args))

    def read1(self, *args: Any) -> Any:
        return self._count(self._raw.read1(*args))

    def readline(self, *args: Any) -> Any:
        return self._count(self._raw.readline(*args))

    def readlines(self, *args: Any) -> Any:
        lines = self._raw.readlines(*args)
        self._meter.bytes += sum(len(line) for line in lines)
        return lines

    def readinto(self, buffer: Any) -> Any:
        n = self._raw.readinto(buffer)
        self._meter.bytes += n or 0
        return n

    def __iter__(self) -> Iterator[Any]:
        for line in self._raw:
            yield self._count(line)

    def __enter__(self) -> _Counted:
        self._raw.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._raw.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


@contextlib.contextmanager
def _metered() -> Iterator[_Meter]:
    """Count the bytes read through ``open`` (builtins and ``io``, so ``pathlib`` too)."""
    meter = _Meter()
    real_open = io.open

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        return _Counted(real_open(*args, **kwargs), meter)

    builtins.open = counting_open
    io.open = counting_open
    try:
        yield meter
    finally:
        builtins.open = real_open
        io.open = real_open


#: Small files in the formats the built-in adapters read: a plugin's adapter must leave them
#: to the built-ins (unless it reads a VARIANT of one of them: ``other_formats=False``).
OTHER_FORMATS: dict[str, bytes] = {
    "other-format.gpx": (
        b'<?xml version="1.0"?><gpx version="1.1" creator="test" '
        b'xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        b'<trkpt lat="52.5" lon="13.4"><time>2026-03-02T07:00:00Z</time></trkpt>'
        b"</trkseg></trk></gpx>\n"
    ),
    "other-format.tcx": (
        b'<?xml version="1.0"?><TrainingCenterDatabase '
        b'xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"><Activities>'
        b'<Activity Sport="Running"><Id>2026-03-02T07:00:00Z</Id></Activity>'
        b"</Activities></TrainingCenterDatabase>\n"
    ),
    "other-format.fit": bytes([14, 16, 0x52, 0x08, 0, 0, 0, 0]) + b".FIT" + bytes(2),
    "other-format.yaml": b"stridewise: journal\nruns: []\n",
    "activities.csv": b"Activity ID,Activity Date,Activity Name,Activity Type,Elapsed Time\n",
}


def junk_files(
    folder: Path, suffixes: Iterable[str] = (), *, other_formats: bool = True
) -> list[Path]:
    """Write inputs no adapter should claim into ``folder`` and return them.

    An empty file, random bytes, a short text, a large file of zeros, an empty folder, for
    each of ``suffixes`` (``".hrm"``) random bytes under that name (so an adapter that decides
    by file name alone shows), and with ``other_formats`` small GPX, TCX, FIT, journal and
    Strava CSV files (:data:`OTHER_FORMATS`: the built-in adapters' formats).
    """
    folder.mkdir(parents=True, exist_ok=True)
    noise = random.Random(20261203).randbytes(4096)
    made = {
        "empty.bin": b"",
        "random.bin": noise,
        "hello.txt": b"hello, this is not an activity\n",
        "zeros.bin": bytes(BIG_JUNK_BYTES),
    }
    for suffix in dict.fromkeys(suffixes):
        if suffix:
            made[f"renamed-noise{suffix}"] = noise
    if other_formats:
        made |= OTHER_FORMATS
    paths = []
    for name, data in made.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    empty = folder / "empty-folder"
    empty.mkdir(exist_ok=True)
    paths.append(empty)
    return paths


def _names_file(text: str, path: Path) -> bool:
    return str(path) in text or path.name in text


def adapter_contract_problems(
    adapter: Adapter,
    good: Iterable[Path | str],
    junk: Iterable[Path | str] = (),
    *,
    workdir: Path,
    max_bytes: int = RECOGNISE_MAX_BYTES,
    expect_events: bool = True,
    other_formats: bool = True,
) -> list[str]:
    """Every way ``adapter`` breaks the adapter contract on these files (empty: none).

    - it is an :class:`~stridewise.plugins.Adapter` with a name and a description;
    - ``recognise`` says True for each ``good`` file, and False, without raising and
      reading at most ``max_bytes``, for each ``junk`` file and for the generated
      :func:`junk_files` (written under ``workdir``; with ``other_formats``, files of the
      built-in adapters' formats too);
    - reading a good file yields only events that pass the schema (at least one if
      ``expect_events``) and raises nothing but ``InputError``;
    - reading a truncated copy of each good file raises nothing but ``InputError`` and never
      yields an invalid event;
    - every ``Skipped``, ``Note`` and ``InputError`` names the file it is about.
    """
    problems: list[str] = []
    if not isinstance(adapter, Adapter):
        return [f"{adapter!r} is not an Adapter (name, description, recognise, read)"]
    if not adapter.name or not isinstance(adapter.name, str):
        problems.append("the adapter has no name")
    if not getattr(adapter, "description", ""):
        problems.append(f"{adapter.name}: the adapter has no description")
    good_paths = [Path(p) for p in good]
    if not good_paths:
        problems.append(f"{adapter.name}: no good file given to check against")
    suffixes = ["".join(p.suffixes) for p in good_paths] + [p.suffix for p in good_paths]
    junk_paths = [Path(p) for p in junk] + junk_files(
        workdir / "junk", suffixes, other_formats=other_formats
    )

    for path in good_paths:
        try:
            if not adapter.recognise(path):
                problems.append(f"{path}: recognise() said False for a good file")
        except Exception as exc:
            problems.append(f"{path}: recognise() raised {type(exc).__name__}: {exc}")
    for path in junk_paths:
        with _metered() as meter:
            try:
                claimed = adapter.recognise(path)
            except Exception as exc:
                problems.append(f"{path}: recognise() raised {type(exc).__name__}: {exc}")
                continue
        if claimed:
            problems.append(f"{path}: recognise() claimed a junk input")
        if meter.bytes > max_bytes:
            problems.append(
                f"{path}: recognise() read {meter.bytes} bytes to decide (at most {max_bytes})"
            )

    for path in good_paths:
        problems += _read_problems(adapter, path, expect_events=expect_events)
        cut = workdir / "truncated" / f"half-{path.name}"
        if path.is_file():
            cut.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            cut.write_bytes(data[: len(data) // 2])
            problems += _read_problems(adapter, cut, expect_events=False)
    return problems


def _read_problems(adapter: Adapter, path: Path, *, expect_events: bool) -> list[str]:
    problems: list[str] = []
    try:
        run = read_with(adapter, path)
    except Exception as exc:
        return [f"{path}: read() raised {type(exc).__name__}: {exc} (raise InputError instead)"]
    problems += [f"{path}: yielded an invalid {text}" for text in run.invalid]
    problems += [
        f"{path}: yielded {item!r}, which is not an event, Skipped or Note" for item in run.other
    ]
    if expect_events and not run.events:
        why = f" (error: {run.error})" if run.error else ""
        problems.append(f"{path}: read() yielded no event from a good file{why}")
    for item in [*run.skipped, *run.notes]:
        if not _names_file(str(getattr(item, "file", "")), path):
            problems.append(f"{path}: {type(item).__name__} does not name the file: {item}")
    if run.error is not None and not _names_file(str(run.error), path):
        problems.append(f"{path}: InputError does not name the file: {run.error}")
    return problems


# ---------------------------------------------------------------------------------------------
# Rule packs
# ---------------------------------------------------------------------------------------------


def run_pack_cases(*sources: Path | Traversable | str) -> TestReport:
    """Load the packs in ``sources`` (files or folders) and run the test cases inside them."""
    from stridewise.engine.packs import run_pack_tests
    from stridewise.engine.rules import load_packs

    packs, errors = load_packs(Path(s) if isinstance(s, str) else s for s in sources)
    return run_pack_tests(packs, load_errors=errors)


def pack_report_problems(report: TestReport, min_coverage: float = 100.0) -> list[str]:
    """Each failed case, pack that did not load and rule no case exercises, in words."""
    problems = [str(e) for e in report.errors]
    for case in report.failures:
        where = f"{case.origin}:{case.line}" if case.line else case.origin
        problems += [f"{where}: case {case.case!r}: {f}" for f in case.failures]
    for cov in report.under(min_coverage):
        problems.append(
            f"{cov.origin}: pack {cov.pack!r} covers {cov.percent:.0f}% of its rules "
            f"(needs {min_coverage:g}%); no case fires {', '.join(cov.missed)}"
        )
    if not report.coverage and not report.errors:
        problems.append("no rule pack found")
    return problems


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------


def _fail(title: str, problems: list[str]) -> None:
    pytest.fail(title + ":\n" + "\n".join(f"  - {p}" for p in problems), pytrace=False)


@pytest.fixture
def stridewise_host() -> PluginHost:
    """A fresh plugin host with no plugin loaded (no entry points, no built-ins)."""
    return PluginHost(entry_points=False)


@pytest.fixture
def stridewise_register(stridewise_host: PluginHost) -> Callable[..., PluginHost]:
    """``register(plugin, name=None, installed=False) -> PluginHost``: load a plugin in-process.

    ``installed=True`` also loads every installed plugin (the built-in adapters included), to
    see yours among them. The test fails if the plugin raises while registering its adapters.
    """
    host = stridewise_host

    def register(plugin: object, name: str | None = None, installed: bool = False) -> PluginHost:
        label = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        if not host.register(plugin, name=label):
            _fail(f"plugin {label!r} did not register", [str(e) for e in host.errors])
        if installed:  # the installed plugins too (the same plugin is not loaded twice)
            host.load_entry_points()
        host.adapters()
        own = [e for e in host.errors if e.plugin == label]
        if own:
            _fail(f"plugin {label!r} failed", [str(e) for e in own])
        return host

    return register


@pytest.fixture
def stridewise_read() -> Callable[[Adapter, Path | str], AdapterRun]:
    """``read(adapter, path) -> AdapterRun``: events, skips, notes and error of one file."""
    return read_with


@pytest.fixture
def stridewise_adapter_contract(tmp_path: Path) -> Callable[..., None]:
    """``check(adapter, good, junk=(), max_bytes=65536, expect_events=True, other_formats=True)``.

    Fails the test with every breach of the adapter contract listed (see
    :func:`adapter_contract_problems`).
    """

    def check(
        adapter: Adapter,
        good: Iterable[Path | str],
        junk: Iterable[Path | str] = (),
        *,
        max_bytes: int = RECOGNISE_MAX_BYTES,
        expect_events: bool = True,
        other_formats: bool = True,
    ) -> None:
        problems = adapter_contract_problems(
            adapter,
            good,
            junk,
            workdir=tmp_path / "stridewise-contract",
            max_bytes=max_bytes,
            expect_events=expect_events,
            other_formats=other_formats,
        )
        if problems:
            _fail(f"adapter {getattr(adapter, 'name', adapter)!r} breaks the contract", problems)

    return check


@pytest.fixture
def stridewise_pack_cases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., TestReport]:
    """``run(*sources, min_coverage=100.0) -> TestReport``: run the packs' own test cases.

    Fails the test with each failed case, each pack that did not load and each rule no case
    exercises when coverage is below ``min_coverage`` percent.
    """
    if not os.environ.get("STRIDEWISE_CACHE_DIR"):
        monkeypatch.setenv("STRIDEWISE_CACHE_DIR", str(tmp_path / "stridewise-cache"))

    def run(*sources: Path | Traversable | str, min_coverage: float = 100.0) -> TestReport:
        report = run_pack_cases(*sources)
        problems = pack_report_problems(report, min_coverage)
        if problems:
            _fail("rule pack cases failed", problems)
        return report

    return run


@pytest.fixture
def stridewise_entry_point() -> Callable[[str], PluginInfo]:
    """``load(name) -> PluginInfo``: the installed plugin ``name``, loaded through its entry
    point as ``stridewise plugins`` does; fails if it is missing or does not load."""

    def load(name: str) -> PluginInfo:
        host = PluginHost(entry_points=True)
        host.adapters()
        host.ruleset_sources()
        own = [str(e) for e in host.errors if e.plugin == name]
        if own:
            _fail(f"plugin {name!r} failed", own)
        found = {p.name: p for p in host.plugins()}
        if name not in found:
            _fail(f"no plugin {name!r} in the 'stridewise' entry-point group", sorted(found))
        return found[name]

    return load


@dataclasses.dataclass(frozen=True, slots=True)
class CliResult:
    """What a ``stridewise`` command did: exit code, standard output and error output."""

    exit_code: int
    stdout: str
    stderr: str


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None) or type(plugin).__name__
    return str(name).rsplit(".", 1)[-1]


@pytest.fixture
def stridewise_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., CliResult]:
    """``run(*args, plugins=(), input=None) -> CliResult``: run a ``stridewise`` command.

    ``plugins`` (modules or objects with hook implementations, or a mapping name -> plugin)
    are loaded after the installed plugins, as if installed. The history database, the
    journal and the pack cache live in the test's temporary folder, never in the user's.
    An exception the command does not turn into a message is raised in the test.
    """
    for variable, name in (
        ("STRIDEWISE_DB", "history.sqlite3"),
        ("STRIDEWISE_JOURNAL", "journal.yaml"),
        ("STRIDEWISE_CACHE_DIR", "cache"),
    ):
        monkeypatch.setenv(variable, str(tmp_path / "stridewise-cli" / name))

    def run(
        *args: object,
        plugins: Iterable[object] | dict[str, object] = (),
        input: str | None = None,
    ) -> CliResult:
        from click.testing import CliRunner

        from stridewise.cli import cli

        pairs = (
            list(plugins.items())
            if isinstance(plugins, dict)
            else [(_plugin_name(p), p) for p in plugins]
        )
        with plugins_in_process(*pairs):
            result = CliRunner().invoke(cli, [str(a) for a in args], input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
