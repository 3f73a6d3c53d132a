"""The decision log: append-only JSON lines, hashed athletes, robust reading."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from stridewise.engine.cards import card_uuid
from stridewise.engine.errors import InputError
from stridewise.engine.packs import DecisionLog, record
from stridewise.engine.rules import load_packs
from stridewise.engine.runtime import Engine, Evaluation

PACKS = Path(__file__).parent / "data" / "packs"
DAY = dt.date(2026, 3, 31)
ATHLETE = "jane.doe@example.org"
FACTS = [
    {"type": "training", "enough_history": True, "load_7d_km": 60.0},
    {"type": "pain", "site": "shin", "severity": 4},
]


def engine() -> Engine:
    packs, _ = load_packs([PACKS / "good"])
    return Engine(packs, overrides={"alpha": {"threshold": 40}}, disabled=["beta/risk-high"])


def evaluate(eng: Engine, log: DecisionLog) -> Evaluation:
    return eng.evaluate_facts(FACTS, DAY, athlete=log.hash_athlete(ATHLETE))


def test_record_writes_one_complete_line_per_evaluation(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    log = DecisionLog(path, fsync=False)
    eng = engine()
    evaluation = evaluate(eng, log)
    entry = record(log, eng, evaluation, ATHLETE, clinic="riverside")
    lines = path.read_text("utf-8").splitlines()
    assert len(lines) == 2  # the header, then the decision
    header = json.loads(lines[0])
    assert header["stridewise_decision_log"] == 1 and len(header["salt"]) == 32
    assert json.loads(lines[1]) == entry
    assert entry["athlete"] == hashlib.sha256(f"{header['salt']}:{ATHLETE}".encode()).hexdigest()
    assert entry["as_of"] == "2026-03-31" and entry["clinic"] == "riverside"
    alpha = next(p for p in eng.packs if p.id == "alpha")
    assert entry["packs"][0] == {
        "id": "alpha",
        "version": "1.2.0",
        "content_hash": alpha.content_hash,
    }
    assert entry["parameters"]["alpha"] == {"threshold": 40, "severity_min": 3}
    assert entry["disabled"] == ["beta/risk-high"]
    assert entry["facts"] == FACTS
    assert entry["fired"] == ["alpha/long-week", "alpha/sore-and-long", "beta/load-points"]
    assert [c["rule_id"] for c in entry["cards"]] == ["sore-and-long", "long-week", "risk-low"]
    assert entry["cards"][1]["summary"] == "60 km this week, above 40 km."
    assert entry["cards"][1]["uuid"] == evaluation.cards[1].uuid  # app and log share uuids
    assert len(entry["decision_id"]) == 36 and entry["timestamp"].endswith("+00:00")
    assert ATHLETE not in path.read_text("utf-8")


def test_raw_ids_never_reach_the_log_even_through_card_uuids(tmp_path: Path) -> None:
    log = DecisionLog(tmp_path / "log.jsonl", fsync=False)
    eng = engine()
    careless = eng.evaluate_facts(FACTS, DAY, athlete=ATHLETE)  # uuids derived from the raw id
    entry = record(log, eng, careless, ATHLETE)
    hashed = log.hash_athlete(ATHLETE)
    for card, logged in zip(careless.cards, entry["cards"], strict=True):
        assert logged["uuid"] == card_uuid(hashed, card.key, DAY) != card.uuid


def test_each_log_has_its_own_salt(tmp_path: Path) -> None:
    a, b = DecisionLog(tmp_path / "a.jsonl"), DecisionLog(tmp_path / "b.jsonl")
    assert a.hash_athlete(ATHLETE) != b.hash_athlete(ATHLETE)
    # reopening a log reads its salt back
    assert DecisionLog(tmp_path / "a.jsonl").hash_athlete(ATHLETE) == a.hash_athlete(ATHLETE)


def test_broken_lines_are_skipped_and_reported(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    log = DecisionLog(path, fsync=False)
    eng = engine()
    first = record(log, eng, evaluate(eng, log), ATHLETE)
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{not json\n[1, 2]\n{"no": "decision id"}\n')
        fh.write('{"decision_id": "torn", "facts": [')  # a crash mid-write: no newline
    second = record(log, eng, evaluate(eng, log), "someone-else")
    reader = DecisionLog(path)
    ids = [e["decision_id"] for e in reader.entries()]
    assert ids == [first["decision_id"], second["decision_id"]]
    assert [n for n, _ in reader.problems] == [3, 4, 5, 6]
    assert reader.problems[0][1].startswith("not JSON")
    assert [e["decision_id"] for e in reader.for_athlete(ATHLETE)] == [first["decision_id"]]


def test_a_file_without_a_header_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "other.jsonl"
    path.write_text('{"something": "else"}\n')
    log = DecisionLog(path)
    with pytest.raises(InputError) as info:
        log.append({"decision_id": "x"})
    assert "line 1 is not a stridewise decision log header" in str(info.value)
    assert path.read_text() == '{"something": "else"}\n'
    assert list(log.entries()) == [] and log.problems == [(1, "no decision_id")]


def test_an_empty_file_becomes_a_log(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.touch()
    log = DecisionLog(path)
    log.append({"decision_id": "d1"})
    assert [e["decision_id"] for e in DecisionLog(path).entries()] == ["d1"]


def test_writers_racing_to_create_a_log_share_one_header(tmp_path: Path) -> None:
    path = tmp_path / "new.jsonl"
    logs = [DecisionLog(path, fsync=False) for _ in range(16)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        salts = set(pool.map(lambda log: log.salt, logs))
    assert len(salts) == 1
    assert path.read_text().count("stridewise_decision_log") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.jsonl"]  # no temp files left


def test_concurrent_records_each_land_whole(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    eng = engine()
    logs = [DecisionLog(path, fsync=False) for _ in range(2)]  # two writers, one file
    evaluation = evaluate(eng, logs[0])

    def write(i: int) -> str:
        return str(record(logs[i % 2], eng, evaluation, f"athlete-{i}")["decision_id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        written = set(pool.map(write, range(80)))
    reader = DecisionLog(path)
    assert {e["decision_id"] for e in reader.entries()} == written
    assert reader.problems == []
