"""The durable_rules wrapper: every sharp edge from engine-notes.md, pinned by a test."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from stridewise.engine.backend import FACT_IDS, RulesBackend, fnv1_32, normalize, to_json
from stridewise.engine.errors import EngineError


def _t(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "training", "acwr": 1.7, "load": 3, **(extra or {})}


def spike_rules() -> dict[str, Any]:
    return {
        "spike": (
            {"all": [{"t": {"$and": [{"type": "training"}, {"$gt": {"acwr": 1.5}}]}}]},
            1,
            lambda m: [{"type": "flag", "name": "spike", "value": m["t"]["acwr"]}],
        ),
        "chain": (
            {"all": [{"f": {"$and": [{"type": "flag"}, {"name": "spike"}]}}]},
            1,
            None,
        ),
        "join": (
            {"all": [{"t": {"type": "training"}}, {"p": {"type": "pain"}}]},
            1,
            None,
            lambda m: m["p"].get("severity", 0) >= m["t"].get("load", 99),
        ),
    }


def fired(backend: RulesBackend, facts: list[dict[str, Any]]) -> list[str]:
    return sorted(f.rule for f in backend.evaluate(facts))


def test_forward_chaining_and_joins() -> None:
    b = RulesBackend(spike_rules())
    firings = b.evaluate([_t(), {"type": "pain", "severity": 5}])
    by_rule = {f.rule: f.matched for f in firings}
    assert set(by_rule) == {"spike", "chain", "join"}
    assert by_rule["chain"]["f"] == {"type": "flag", "name": "spike", "value": 1.7}
    assert by_rule["join"]["p"]["severity"] == 5


def test_join_fails_when_value_lower() -> None:
    b = RulesBackend(spike_rules())
    assert fired(b, [_t({"load": 9}), {"type": "pain", "severity": 5}]) == ["chain", "spike"]


def test_repeated_evaluations_are_independent_and_leave_nothing_behind() -> None:
    b = RulesBackend(spike_rules())
    for _ in range(3):
        assert fired(b, [_t()]) == ["chain", "spike"]
        assert fired(b, [_t({"acwr": 1.0})]) == []
    assert b._leftover() == []


def test_more_than_1024_evaluations_do_not_exhaust_sessions() -> None:
    b = RulesBackend(spike_rules())
    for _ in range(1500):
        b.evaluate([_t()])
    assert fired(b, [_t()]) == ["chain", "spike"]


def test_identical_facts_in_one_evaluation_both_count() -> None:
    # The core rejects the same content twice; our ids make each fact distinct.
    b = RulesBackend({"pain": ({"all": [{"p": {"type": "pain"}}]}, 1, None)})
    assert len(b.evaluate([{"type": "pain", "severity": 3}, {"type": "pain", "severity": 3}])) == 2


def test_fact_no_rule_matches_is_ignored_not_lost() -> None:
    b = RulesBackend(spike_rules())
    assert fired(b, [{"type": "weather", "rain": True}, _t()]) == ["chain", "spike"]


def test_exceptions_in_actions_surface() -> None:
    b = RulesBackend({"bad": ({"all": [{"t": {"type": "training"}}]}, 1, lambda m: [1 / 0])})
    with pytest.raises(EngineError, match="ZeroDivisionError"):
        b.evaluate([_t()])
    # ...and the backend still works afterwards, with nothing left in the session.
    assert b._leftover() == []
    good = RulesBackend(spike_rules())
    assert fired(good, [_t()]) == ["chain", "spike"]


def test_absence_is_order_sensitive_in_the_core_so_we_gate_it_with_a_phase_fact() -> None:
    # Raw Rete: a negated rule fires as soon as its positive side matches, before later facts.
    raw = {
        "no_shoe": ({"all": [{"t": {"type": "training"}}, {"s$not": {"type": "shoe"}}]}, 1, None)
    }
    assert fired(RulesBackend(raw), [_t(), {"type": "shoe", "km": 3}]) == ["no_shoe"]
    # A marker placed after the negation does not help: the negation was checked already.
    late = {
        "no_shoe": (
            {
                "all": [
                    {"t": {"type": "training"}},
                    {"s$not": {"type": "shoe"}},
                    {"ph": {"$and": [{"type": "stridewise_phase"}, {"n": 1}]}},
                ]
            },
            1,
            None,
        )
    }
    phase = {"type": "stridewise_phase", "n": 1}
    assert fired(RulesBackend(late), [_t(), {"type": "shoe", "km": 3}, phase]) == ["no_shoe"]
    # What the compiler emits: the phase marker (asserted last) first, negations last.
    gated = {
        "no_shoe": (
            {
                "all": [
                    {"ph": {"$and": [{"type": "stridewise_phase"}, {"n": 1}]}},
                    {"t": {"type": "training"}},
                    {"s$not": {"type": "shoe"}},
                ]
            },
            1,
            None,
        )
    }
    b = RulesBackend(gated)
    assert fired(b, [_t(), phase]) == ["no_shoe"]
    assert fired(b, [_t(), {"type": "shoe", "km": 3}, phase]) == []
    assert fired(b, [{"type": "shoe", "km": 3}, _t(), phase]) == []


def test_what_the_core_is_sent_reads_back_as_the_same_values() -> None:
    """to_json (orjson, json's writing as the fallback) keeps every value exactly: big
    numbers, tiny ones, non-ASCII text and integers beyond 64 bits."""
    import json

    values = {
        "a": 0.1 + 0.2,
        "b": 123456789.123456789,
        "c": 5e-324,
        "d": -1.5e-7,
        "e": "Schienbein – vorn ✓",
        "f": 2**70,
        "g": True,
        "h": None,
        "i": 9.999999999999999e14,
    }
    text = to_json(values)
    assert "e-" not in text and "e+" not in text
    assert json.loads(text) == values


def test_types_are_normalized_before_the_core() -> None:
    # Exact (issue 12, item 7): no rounding; to_json writes 1e-05 as 0.00001 for the core.
    assert normalize(1e-05) == 1e-05
    assert normalize(3.0) == 3.0
    assert normalize(2.123456789) == 2.123456789
    assert to_json({"x": 1e-05}) == '{"x":0.00001}'
    with pytest.raises(EngineError):
        normalize(float("nan"))
    with pytest.raises(EngineError):
        normalize([1, 2])
    # A tiny float that would be serialized as 1e-05 no longer breaks the core.
    b = RulesBackend(
        {"low": ({"all": [{"t": {"$and": [{"type": "t"}, {"$lt": {"x": 1}}]}}]}, 1, None)}
    )
    assert fired(b, [{"type": "t", "x": 0.00001}]) == ["low"]


def test_too_many_fields_is_an_error_not_a_crash() -> None:
    b = RulesBackend(spike_rules())
    with pytest.raises(EngineError, match="fields"):
        b.evaluate([{"type": "training", **{f"f{i}": i for i in range(70)}}])


def test_fact_id_pool_has_no_fnv_collisions() -> None:
    hashes = {fnv1_32(i.encode()) for i in FACT_IDS}
    assert len(hashes) == len(FACT_IDS)
    # FNV-1 reference value (offset basis for the empty string).
    assert fnv1_32(b"") == 0x811C9DC5


def test_empty_ruleset_evaluates_to_nothing() -> None:
    assert RulesBackend({}).evaluate([_t()]) == []


def test_invalid_condition_is_reported() -> None:
    with pytest.raises(EngineError, match="refused"):
        RulesBackend({"x": ({"all": [{"t": {"$bogus": {"a": 1}}}]}, 1, None)})


def test_backends_do_not_share_state() -> None:
    a = RulesBackend(spike_rules())
    b = RulesBackend({"any_t": ({"all": [{"t": {"type": "training"}}]}, 1, None)})
    assert fired(a, [_t()]) == ["chain", "spike"]
    assert fired(b, [_t()]) == ["any_t"]


def test_calls_are_serialized_across_threads() -> None:
    b = RulesBackend(spike_rules())
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def work(acwr: float) -> None:
        try:
            for _ in range(200):
                results.append(fired(b, [_t({"acwr": acwr})]))
        except BaseException as exc:  # pragma: no cover - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in (1.0, 1.7, 1.0, 1.7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted({tuple(r) for r in results}) == [(), ("chain", "spike")]
    assert len(results) == 800


def test_a_core_error_mid_evaluation_surfaces_and_leaves_the_session_clean(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stridewise.engine import backend

    b = RulesBackend(spike_rules())
    real = backend.core.assert_fact

    def store_then_fail(handle: int, text: str) -> Any:
        result = real(handle, text)  # the core stored the fact...
        if '"pain"' in text:
            raise RuntimeError("Could not assert fact, error code: 311")  # ...then failed
        return result

    monkeypatch.setattr(backend.core, "assert_fact", store_then_fail)
    with pytest.raises(EngineError, match="rejected a pain fact"):
        b.evaluate([_t(), {"type": "pain", "severity": 5}])
    assert b._leftover() == []
    monkeypatch.setattr(backend.core, "assert_fact", real)
    assert fired(b, [{"type": "pain", "severity": 5}, _t({"load": 3})]) == [
        "chain",
        "join",
        "spike",
    ]
