"""The pytest plugin for plugin authors (stridewise.testing), run the way an author runs it:
in a separate pytest session (pytester), through its entry point, on real adapters and packs.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

# Imported here, before pytester's in-process runs snapshot sys.modules: numpy (under the
# engine) cannot be imported a second time in one process.
import stridewise.engine.packs
import stridewise.engine.rules  # noqa: F401

pytest_plugins = ["pytester"]

PACKS = Path(__file__).parent / "data" / "packs"

#: A tiny third-party format: "TINY1 <km> <YYYY-MM-DD>" on the first line.
ADAPTERS = """
from pathlib import Path

from stridewise.plugins import InputError, Skipped, hookimpl, load_event, stable_id


def _first_line(path):
    try:
        with path.open("rb") as fh:
            return fh.read(64)
    except OSError:
        return b""


class Tiny:
    name = "tiny"
    description = "TINY1 files: one run per file"

    def recognise(self, path):
        return path.is_file() and _first_line(path).startswith(b"TINY1 ")

    def read(self, path):
        parts = path.read_text().split()
        if len(parts) < 3:
            raise InputError("cut short: expected 'TINY1 <km> <date>'", file=str(path))
        km, day = float(parts[1]), parts[2]
        if km == 0:
            yield Skipped(str(path), "no distance recorded")
            return
        try:
            event = load_event({
                "kind": "run", "id": stable_id("tiny", str(path.name)), "source": "tiny",
                "start": day + "T07:00:00+00:00", "distance_m": km * 1000,
            })
        except InputError as exc:
            raise exc.located(file=str(path)) from None
        yield event


class Greedy(Tiny):
    name = "greedy"

    def recognise(self, path):
        return path.suffix == ".tiny"


class AnyXml(Tiny):
    name = "anyxml"

    def recognise(self, path):
        return _first_line(path).startswith(b"<?xml") or super().recognise(path)


class Slurper(Tiny):
    name = "slurper"

    def recognise(self, path):
        return path.is_file() and path.read_bytes().startswith(b"TINY1 ")


class Touchy(Tiny):
    name = "touchy"

    def recognise(self, path):
        return path.read_bytes()[:6] == b"TINY1 "  # raises on a folder


class Sloppy(Tiny):
    name = "sloppy"

    def read(self, path):
        from stridewise.plugins import Run
        import datetime as dt
        parts = path.read_text().split()
        if len(parts) < 3:
            raise InputError("cut short")  # no file named
        yield Run(id="x", source="sloppy", start=dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc),
                  distance_m=-5.0)
        yield Skipped("somewhere", "no file named here")


@hookimpl
def stridewise_register_adapters(register):
    register(Tiny())
"""


@pytest.fixture
def author(pytester: pytest.Pytester) -> pytest.Pytester:
    """A plugin author's project: the adapter module and two good files."""
    pytester.makepyfile(tiny_adapter=ADAPTERS)
    pytester.path.joinpath("good").mkdir()
    pytester.path.joinpath("good", "a.tiny").write_text("TINY1 5.2 2026-03-01\n")
    pytester.path.joinpath("good", "b.tiny").write_text("TINY1 10 2026-03-03\n")
    pytester.syspathinsert()
    return pytester


def _run(pytester: pytest.Pytester, test: str) -> pytest.RunResult:
    pytester.makepyfile(test_author=textwrap.dedent(test))
    return pytester.runpytest(
        "-p", "stridewise.testing", "-q", "-W", "ignore::pytest.PytestAssertRewriteWarning"
    )


def test_a_good_adapter_passes_the_contract_and_reads_events(author: pytest.Pytester) -> None:
    result = _run(
        author,
        """
        from pathlib import Path
        import tiny_adapter

        GOOD = sorted(Path("good").glob("*.tiny"))

        def test_contract(stridewise_adapter_contract):
            stridewise_adapter_contract(tiny_adapter.Tiny(), GOOD)

        def test_read(stridewise_read, tmp_path):
            run = stridewise_read(tiny_adapter.Tiny(), GOOD[0])
            assert run.kinds == ["run"] and run.events[0].distance_m == 5200
            empty = tmp_path / "zero.tiny"
            empty.write_text("TINY1 0 2026-03-01")
            run = stridewise_read(tiny_adapter.Tiny(), empty)
            assert run.events == [] and run.skipped[0].reason == "no distance recorded"
            cut = tmp_path / "cut.tiny"
            cut.write_text("TINY1 5")
            assert "cut short" in str(stridewise_read(tiny_adapter.Tiny(), cut).error)

        def test_register(stridewise_register):
            host = stridewise_register(tiny_adapter, installed=True)
            names = [a.name for a in host.adapters()]
            assert "tiny" in names and names.index("tiny") > names.index("fit")
        """,
    )
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("adapter", "complaint"),
    [
        ("Greedy", "recognise() claimed a junk input"),
        ("AnyXml", "other-format.gpx: recognise() claimed a junk input"),
        ("Slurper", "recognise() read 4194304 bytes to decide"),
        ("Touchy", "recognise() raised IsADirectoryError"),
        ("Sloppy", "yielded an invalid run event 'x'"),
        ("Sloppy", "InputError does not name the file: cut short"),
        ("Sloppy", "Skipped does not name the file"),
    ],
)
def test_each_breach_of_the_adapter_contract_is_named(
    author: pytest.Pytester, adapter: str, complaint: str
) -> None:
    result = _run(
        author,
        f"""
        from pathlib import Path
        import tiny_adapter

        def test_contract(stridewise_adapter_contract):
            stridewise_adapter_contract(tiny_adapter.{adapter}(), sorted(Path("good").glob("*")))
        """,
    )
    result.assert_outcomes(failed=1)
    assert complaint in result.stdout.str()
    assert "breaks the contract" in result.stdout.str()


def test_pack_cases_run_with_full_coverage(author: pytest.Pytester) -> None:
    shutil.copy(PACKS / "good" / "alpha.yaml", author.path / "alpha.yaml")
    result = _run(
        author,
        """
        def test_cases(stridewise_pack_cases):
            report = stridewise_pack_cases("alpha.yaml")
            assert report.percent == 100 and len(report.cases) == 4
        """,
    )
    result.assert_outcomes(passed=1)


def test_a_pack_with_an_untested_rule_fails_and_names_the_rule(author: pytest.Pytester) -> None:
    shutil.copy(PACKS / "partial" / "partial.yaml", author.path / "partial.yaml")
    result = _run(
        author,
        """
        def test_cases(stridewise_pack_cases):
            stridewise_pack_cases("partial.yaml")
        """,
    )
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "rule pack cases failed" in out and "no case fires" in out


@pytest.mark.slow
def test_the_plugin_loads_by_entry_point_without_p(author: pytest.Pytester) -> None:
    author.makepyfile(
        test_auto="""
        def test_fixture_is_there(stridewise_host):
            assert stridewise_host.plugins() == []
        """
    )
    author.runpytest_subprocess("-q").assert_outcomes(passed=1)


def test_a_stridewise_command_runs_with_a_plugin_that_is_not_installed(
    author: pytest.Pytester,
) -> None:
    result = _run(
        author,
        """
        import json
        import os
        from pathlib import Path
        import tiny_adapter

        def test_import(stridewise_cli):
            out = stridewise_cli("import", "--json", "good/a.tiny", plugins=[tiny_adapter])
            assert out.exit_code == 0, out.stderr
            assert json.loads(out.stdout)["activities_by_source"] == {"tiny": 1}
            assert Path(os.environ["STRIDEWISE_DB"]).is_file()  # in the test's folder
            listed = json.loads(stridewise_cli("plugins", "--json", plugins=[tiny_adapter]).stdout)
            assert "tiny" in listed["adapters"]

        def test_not_without_it(stridewise_cli):
            assert stridewise_cli("import", "good/a.tiny").exit_code == 2
        """,
    )
    result.assert_outcomes(passed=2)


def test_the_other_format_samples_are_each_read_by_their_builtin_adapter(tmp_path: Path) -> None:
    from stridewise.plugins import PluginHost
    from stridewise.testing import OTHER_FORMATS, junk_files

    junk_files(tmp_path)
    adapters = PluginHost().adapters()
    readers = {
        name: [a.name for a in adapters if a.recognise(tmp_path / name)] for name in OTHER_FORMATS
    }
    assert readers == {
        "other-format.gpx": ["gpx"],
        "other-format.tcx": ["tcx"],
        "other-format.fit": ["fit"],
        "other-format.yaml": ["journal"],
        "activities.csv": ["strava"],
    }
