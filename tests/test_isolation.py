"""Isolation for embedding apps (issue 12, item 9): a crash in the rules core kills a worker,
not the app. Real crashes (a segfault inside the C core, SIGABRT, SIGKILL) in real workers,
each bounded in time; the app's process goes on and gets the right cards or a named error.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

import stridewise
from stridewise.cli import cli
from stridewise.engine.errors import RulesetError
from stridewise.engine.isolation import IsolatedEngine, WorkerCrashed
from stridewise.engine.rules import RulePack, parse_pack
from stridewise.engine.runtime import Engine

#: Slow (processes, wheels or fuzzing): `pytest -m 'not slow'` skips them in a quick loop.
pytestmark = pytest.mark.slow

AS_OF = dt.date(2026, 3, 31)
NIGHT_PAIN = "symptoms/pain-at-rest-or-night"
PAIN_AT_NIGHT = [
    {"type": "pain", "site": "shin", "site_label": "shin", "severity": 5, "at_night": True},
]
PACKS: list[RulePack] = stridewise.plugin_packs()[0]


@pytest.fixture(scope="module")
def pool() -> Iterator[IsolatedEngine]:
    with IsolatedEngine(PACKS, workers=2, timeout=20) as engine:
        yield engine


def night_pain_shown(evaluation: stridewise.Evaluation) -> bool:
    return any(c.key == NIGHT_PAIN and c.indicator == "critical" for c in evaluation.cards)


def test_isolated_evaluation_gives_the_same_evaluation_as_in_process(pool: IsolatedEngine) -> None:
    here = Engine(PACKS).evaluate_facts(PAIN_AT_NIGHT, AS_OF, athlete="ann")
    there = pool.evaluate_facts(PAIN_AT_NIGHT, AS_OF, athlete="ann")
    assert there == here
    assert night_pain_shown(there)


@pytest.mark.parametrize("fault", ["segfault", "abort", "kill"])
def test_a_worker_that_crashes_is_replaced_and_the_evaluation_retried(
    pool: IsolatedEngine, fault: str
) -> None:
    before = set(pool.worker_pids())
    pool._inject(fault)  # the next request crashes its worker for real
    started = time.perf_counter()
    evaluation = pool.evaluate_facts(PAIN_AT_NIGHT, AS_OF, athlete="ann")
    assert night_pain_shown(evaluation)  # the retry on a fresh worker gave the right cards
    assert time.perf_counter() - started < 10
    after = set(pool.worker_pids())
    assert len(after) == 2 and len(before - after) == 1  # one worker replaced


def test_a_worker_killed_from_outside_is_replaced_on_the_next_evaluation(
    pool: IsolatedEngine,
) -> None:
    victim = pool.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    for _ in range(3):  # whichever worker each evaluation lands on
        assert night_pain_shown(pool.evaluate_facts(PAIN_AT_NIGHT, AS_OF, athlete="ann"))
    assert victim not in pool.worker_pids()


def test_an_evaluation_that_crashes_twice_is_an_error_naming_the_athlete_and_packs(
    pool: IsolatedEngine,
) -> None:
    pool._inject("segfault", "abort")
    with pytest.raises(WorkerCrashed) as err:
        pool.evaluate_facts(PAIN_AT_NIGHT, AS_OF, athlete="ann-17")
    message = str(err.value)
    assert "'ann-17'" in message and "symptoms 1" in message and "training-load" in message
    assert "SIGSEGV" in message and "SIGABRT" in message
    assert err.value.athlete == "ann-17" and any(p.startswith("symptoms") for p in err.value.packs)
    assert isinstance(err.value, stridewise.EngineError)  # never an empty list
    # ...and the pool is whole again for the next athlete.
    assert night_pain_shown(pool.evaluate_facts(PAIN_AT_NIGHT, AS_OF, athlete="bo"))


def test_a_worker_that_hangs_is_killed_after_the_timeout_and_the_evaluation_retried() -> None:
    symptoms = [p for p in PACKS if p.id == "symptoms"]
    with IsolatedEngine(symptoms, workers=1, timeout=0.5) as engine:
        engine._inject("hang")
        started = time.perf_counter()
        assert night_pain_shown(engine.evaluate_facts(PAIN_AT_NIGHT, AS_OF))
        assert time.perf_counter() - started < 8


def test_a_pack_the_core_refuses_is_a_ruleset_error_before_any_evaluation() -> None:
    text = """\
ruleset: {id: hashes, version: 1.0.0, title: Two names one hash, status: draft}
sources: {src: {label: "A source for tests"}}
rules:
  - id: mark
    when: [{fact: training}]
    then: {derive: {fact: marker, fields: {pde2cdr: 1, h1hd1xp: 2}}}
"""
    with pytest.raises(RulesetError, match="h1hd1xp"):
        IsolatedEngine([parse_pack(text, origin="hashes.yaml")], workers=1)


def test_an_app_evaluates_histories_in_workers_like_in_process(pool: IsolatedEngine) -> None:
    history = stridewise.History(
        stridewise.load_events(
            [
                {
                    "kind": "pain",
                    "id": "p1",
                    "source": "t",
                    "date": "2026-03-30",
                    "site": "shin",
                    "severity": 5,
                    "at_night": True,
                }
            ]
        )
    )
    assert pool.evaluate(history, AS_OF) == Engine(PACKS).evaluate(history, AS_OF)


def test_report_isolated_prints_the_same_cards() -> None:
    runner = CliRunner()
    plain = runner.invoke(cli, ["demo", "--json"])
    isolated = runner.invoke(cli, ["demo", "--json", "--isolated"])
    assert plain.exit_code == isolated.exit_code == 0, isolated.output
    assert json.loads(isolated.output)["cards"] == json.loads(plain.output)["cards"]
