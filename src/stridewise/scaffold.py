"""``stridewise new plugin|pack NAME``: write a plugin package skeleton that passes its tests.

``new plugin`` writes an adapter package (a small text format it reads, a sample file and
tests through the pytest plugin); ``new pack`` a rule-pack package (one rule with its test
cases as package data, and a test that runs them at 100% coverage). Each has a pyproject with
the ``stridewise`` entry point and the package data declared, and a README saying what to
change. See ``docs/plugins.md``.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import click

from stridewise.engine.errors import InputError

_NAME = re.compile(r"[a-z][a-z0-9_]{1,39}")

# ---------------------------------------------------------------------------------------------
# Shared files
# ---------------------------------------------------------------------------------------------

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "stridewise-$dash"
version = "0.1.0"
description = "$description"
readme = "README.md"
requires-python = ">=3.11"
license = { text = "MIT" }
dependencies = ["stridewise>=$stridewise_version"]

[project.optional-dependencies]
test = ["pytest>=8"]

# stridewise finds the plugin through this entry point: NAME = "module with the hooks".
[project.entry-points.stridewise]
$name = "$module"

[tool.setuptools.packages.find]
where = ["src"]

# Files other than Python the package needs at run time (left out of the wheel otherwise).
[tool.setuptools.package-data]
$module = [$package_data]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

_ENTRY_POINT_TEST = """

def test_the_entry_point_names_this_module() -> None:
    import tomllib
    from pathlib import Path

    config = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    entry_points = config["project"]["entry-points"]["stridewise"]
    assert entry_points == {"$name": "$module"}
"""

# ---------------------------------------------------------------------------------------------
# new plugin: an adapter
# ---------------------------------------------------------------------------------------------

_ADAPTER = '''\
"""A stridewise adapter for $name files.

Replace the format below with yours. A $name file here is text: a first line
``# $name v1``, then one run per line: ``date,distance_km,duration_min`` (``2026-03-02,8.5,48``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from stridewise.plugins import (
    Adapter,
    Event,
    InputError,
    Skipped,
    head_of,
    hookimpl,
    load_event,
    stable_id,
)

MAGIC = b"# $name v1"


class ${cls}Adapter:
    name = "$name"
    description = "$name activity files (one run per line)"

    def recognise(self, path: Path) -> bool:
        """Decide by content, reading only the first bytes (never the whole file)."""
        return head_of(path, 64).startswith(MAGIC)

    def read(self, path: Path) -> Iterator[Event | Skipped]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read the file ({exc})", file=str(path)) from None
        for row, line in enumerate(lines[1:], start=2):
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split(",")]
            if len(parts) != 3:
                yield Skipped(str(path), "expected date,distance_km,duration_min", row=row)
                continue
            day, km, minutes = parts
            try:
                yield load_event(
                    {
                        "kind": "run",
                        "id": stable_id("$name", day, km, minutes),
                        "source": "$name",
                        "start": f"{day}T12:00:00+00:00",
                        "distance_m": float(km) * 1000,
                        "moving_time_s": float(minutes) * 60,
                    }
                )
            except (InputError, ValueError) as exc:
                yield Skipped(str(path), f"not a run: {exc}", row=row)


ADAPTER: Adapter = ${cls}Adapter()


@hookimpl
def stridewise_register_adapters(register: Callable[[Adapter], None]) -> None:
    """Register the $name adapter."""
    register(ADAPTER)
'''

_SAMPLE = """\
# $name v1
2026-03-02,8.5,48
2026-03-04,6.0,35
2026-03-07,not-a-distance,40
"""

_ADAPTER_TEST = (
    '''\
"""Tests for the $name adapter, with the fixtures of stridewise's pytest plugin."""

from __future__ import annotations

import json
from pathlib import Path

import $module

DATA = Path(__file__).parent / "data"


def test_the_adapter_keeps_the_contract(stridewise_adapter_contract) -> None:
    stridewise_adapter_contract($module.ADAPTER, sorted(DATA.glob("*.$name")))


def test_a_file_becomes_runs_and_a_bad_row_is_skipped_with_its_row(stridewise_read) -> None:
    run = stridewise_read($module.ADAPTER, DATA / "sample.$name")
    assert run.kinds == ["run", "run"]
    assert run.events[0].distance_m == 8500
    assert [s.row for s in run.skipped] == [4]


def test_it_is_asked_after_the_built_in_adapters(stridewise_register) -> None:
    host = stridewise_register($module, name="$name", installed=True)
    names = [a.name for a in host.adapters()]
    assert names.index("$name") > names.index("fit")


def test_stridewise_import_reads_the_sample(stridewise_cli) -> None:
    result = stridewise_cli(
        "import", "--json", DATA / "sample.$name", plugins={"$name": $module}
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["activities_by_source"] == {"$name": 2}
'''
    + _ENTRY_POINT_TEST
)

_ADAPTER_README = """\
# stridewise-$dash

A [stridewise](https://pypi.org/project/stridewise/) adapter for $name files, made with
`stridewise new plugin $name`.

```console
$$ pip install -e '.[test]'
$$ pytest                      # the stridewise_* fixtures come with stridewise
$$ stridewise plugins          # lists $name and where it stands among the adapters
$$ stridewise import FILE.$name
```

What to change:

- `src/$module/__init__.py`: `recognise` (decide by content, read a few bytes at most) and
  `read` (yield events through `load_event`, `Skipped` for parts you leave out, raise
  `InputError` naming the file when the whole file is unusable);
- `tests/data/`: real sample files of your format (say where each comes from and its licence);
- `pyproject.toml`: name, description; add files your package reads to `package-data`.

The adapter contract, the precedence among adapters and every hook are in stridewise's
`docs/plugins.md`.
"""

# ---------------------------------------------------------------------------------------------
# new pack: a rule pack
# ---------------------------------------------------------------------------------------------

_PACK_INIT = '''\
"""The $name rule pack for stridewise (YAML package data in ``packs/``)."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.resources import files
from importlib.resources.abc import Traversable

from stridewise.plugins import hookimpl


@hookimpl
def stridewise_ruleset_sources() -> Iterable[Traversable]:
    """The folder of this package's packs (found inside the installed wheel too)."""
    return [files(__package__).joinpath("packs")]
'''

_PACK_YAML = """\
# The $name pack: replace the example rule with yours (format: stridewise docs/packs.md).
# status: draft is a label for people (`stridewise rulesets list` shows it): an installed draft
# pack runs in every report like an active one. Set it to active, with `reviewed`, once a
# clinician has checked the rules; see docs/packs.md, "Status".
ruleset:
  id: $slug
  version: 0.1.0
  title: $title
  status: draft
  reviewed: "$today"

sources:
  seed002:
    label: >-
      UW Medicine sports medicine, "Stress fractures in runners: how do I get back to
      running?" (patient handout; longer runs are one of the loads to build up gradually)

parameters:
  long_run_km:
    type: number
    default: 25
    min: 10
    max: 50
    unit: km
    source: seed002
    contested: >-
      The handout names longer runs as a load to build up gradually without a distance;
      25 km is this pack's working line.
    description: Longest run of the last 7 days from which the card suggests easy days around it.

rules:
  - id: easy-days-around-long-run
    title: A long run this week
    priority: 20
    when:
      - fact: training
        where: {longest_run_7d_km: {gte: $$long_run_km}}
    then:
      card:
        indicator: info
        advice: modify
        summary: "A {training.longest_run_7d_km} km run this week: keep the days around it easy."
        detail: >
          Bone rebuilds between loads; a long run is a big one, so the days before and after
          it are easy or rest days (UW Medicine handout).
        source: seed002

tests:
  - name: a 30 km run this week
    as_of: "2026-03-31"
    facts:
      - {type: training, enough_history: true, longest_run_7d_km: 30}
    expect: [{rule: easy-days-around-long-run, indicator: info}]
  - name: no run over 12 km this week
    as_of: "2026-03-31"
    facts:
      - {type: training, enough_history: true, longest_run_7d_km: 12}
    silent: [easy-days-around-long-run]
"""

_PACK_TEST = (
    '''\
"""Tests for the $name pack, with the fixtures of stridewise's pytest plugin."""

from __future__ import annotations

from importlib.resources import files

import $module


def test_the_pack_cases_pass_and_cover_every_rule(stridewise_pack_cases) -> None:
    report = stridewise_pack_cases(files($module).joinpath("packs"), min_coverage=100)
    assert [c.pack for c in report.coverage] == ["$slug"]


def test_the_plugin_provides_its_packs(stridewise_register) -> None:
    host = stridewise_register($module, name="$name")
    assert [plugin for plugin, _ in host.ruleset_sources()] == ["$name"]
'''
    + _ENTRY_POINT_TEST
)

_PACK_README = """\
# stridewise-$dash

A [stridewise](https://pypi.org/project/stridewise/) rule pack, made with
`stridewise new pack $name`.

```console
$$ pip install -e '.[test]'
$$ pytest                                        # runs the pack's own cases at 100% coverage
$$ stridewise rulesets list                      # $slug, from $name
$$ stridewise rulesets test --min-coverage 100
```

What to change: `src/$module/packs/$slug.yaml` (manifest, sources with a DOI where a
threshold comes from a paper, typed parameters with bounds, rules, and a test case for every
rule). More packs go in the same folder. The pack format is in stridewise's `docs/packs.md`,
the hooks in `docs/plugins.md`.
"""


def _render(template: str, values: dict[str, str]) -> str:
    return string.Template(template).substitute(values)


def _values(name: str, kind: str) -> dict[str, str]:
    import datetime as dt

    import stridewise

    if not _NAME.fullmatch(name):
        raise InputError(
            f"{name!r} is not a plugin name: use 2-40 lower-case letters, digits and '_', "
            "starting with a letter (e.g. 'mywatch')"
        )
    return {
        "name": name,
        "dash": name.replace("_", "-"),
        "slug": name.replace("_", "-"),
        "module": f"stridewise_{name}",
        "cls": "".join(part.capitalize() for part in name.split("_")),
        "title": name.replace("_", " ").capitalize(),
        "today": dt.date.today().isoformat(),
        "stridewise_version": stridewise.__version__,
        "description": (
            f"stridewise adapter for {name} files"
            if kind == "plugin"
            else f"stridewise rule pack {name}"
        ),
        "package_data": '"py.typed"' if kind == "plugin" else '"packs/*.yaml", "py.typed"',
    }


def write_skeleton(kind: str, name: str, folder: Path) -> list[Path]:
    """Write the ``kind`` ("plugin" or "pack") skeleton for ``name`` into ``folder``.

    ``folder`` must not exist or be empty. Returns the files written.
    """
    values = _values(name, kind)
    if folder.exists() and any(folder.iterdir()):
        raise InputError(f"{folder} exists and is not empty; choose another --dir", file=None)
    module = values["module"]
    files: dict[str, str] = {
        "pyproject.toml": _PYPROJECT,
        f"src/{module}/py.typed": "",
    }
    if kind == "plugin":
        files |= {
            f"src/{module}/__init__.py": _ADAPTER,
            f"tests/data/sample.{name}": _SAMPLE,
            f"tests/test_{name}.py": _ADAPTER_TEST,
            "README.md": _ADAPTER_README,
        }
    elif kind == "pack":
        files |= {
            f"src/{module}/__init__.py": _PACK_INIT,
            f"src/{module}/packs/{values['slug']}.yaml": _PACK_YAML,
            f"tests/test_{name}.py": _PACK_TEST,
            "README.md": _PACK_README,
        }
    else:
        raise InputError(f"unknown skeleton {kind!r}: 'plugin' or 'pack'")
    written = []
    for relative, template in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_render(template, values), encoding="utf-8")
        written.append(path)
    return written


@click.group(name="new")
def new() -> None:
    """Start a plugin package: an adapter (plugin) or a rule pack (pack), with tests."""


def _command(kind: str, what: str) -> click.Command:
    article = "an" if what[0] in "aeiou" else "a"

    @click.command(
        name=kind, help=f"Write {article} {what} package for NAME that passes its tests."
    )
    @click.argument("name")
    @click.option(
        "--dir",
        "folder",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where to write it (default: ./stridewise-NAME).",
    )
    def command(name: str, folder: Path | None) -> None:
        target = folder or Path(f"stridewise-{name.replace('_', '-')}")
        written = write_skeleton(kind, name, target)
        click.echo(f"wrote {len(written)} files to {target}:")
        for path in written:
            click.echo(f"  {path.relative_to(target)}")
        click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest")

    return command


new.add_command(_command("plugin", "adapter plugin"))
new.add_command(_command("pack", "rule-pack plugin"))
