"""The one module that touches durable_rules. Nothing else imports ``durable``.

durable_rules (a C Rete core) has sharp edges, all handled here (see
``../shared/engine-notes.md``):

- ``durable.lang`` is process-global: we use :class:`durable.engine.Host` directly, one per
  backend, with its two never-ending timer threads switched off.
- Sessions are capped at 1,024 and ``delete_state`` can crash: athletes' facts live in our code;
  each evaluation borrows the single session ``SID``, and everything asserted (facts and the
  facts rules derived) is retracted before the call returns.
- Message identity is a 32-bit FNV hash of ``id``: every fact gets a short id from a fixed pool
  checked collision-free at import.
- Exceptions in actions are swallowed by the core: our actions never raise into it; an error is
  recorded and re-raised as :class:`EngineError` after the evaluation.
- Types: only str, bool, int and finite floats in plain decimal notation reach the core.
- ``assert_facts`` loses firings and segfaults on empty lists: we assert one fact per call.
- Joins between facts (``{"$gte": {"f": {"alias": "g"}}}``) read past the core's buffers when
  a comparison fails (valgrind: invalid reads in ``reduceExpressionSequence``; a segfault
  depending on the heap) and raise error 311 on a missing field: the compiler never emits
  them; joins are checked in Python by each rule's ``accept`` function.
- Not thread-safe: every call holds the backend's lock.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import durable_rules_engine as core  # the C core shipped by the durable-rules distribution

from .errors import EngineError

SID = "1"
#: The core stores at most 64 properties per message (``MAX_OBJECT_PROPERTIES``).
MAX_FIELDS = 60
_ID_POOL_SIZE = 4096


def fnv1_32(data: bytes) -> int:
    """FNV-1 32-bit, the hash durable_rules keys messages by."""
    h = 0x811C9DC5
    for byte in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def _id_pool(size: int) -> tuple[str, ...]:
    ids = tuple(f"f{i}" for i in range(size))
    hashes = {fnv1_32(i.encode()) for i in ids}
    if len(hashes) != len(ids):  # pragma: no cover - checked by a test; would be a core change
        raise RuntimeError("fact id pool has FNV-1 collisions")
    return ids


FACT_IDS = _id_pool(_ID_POOL_SIZE)

#: An action: receives the matched facts (alias -> fields) and returns facts to assert.
Action = Callable[[Mapping[str, Mapping[str, Any]]], Sequence[Mapping[str, Any]]]
#: A check of a match (alias -> fields) that must pass for the firing to count.
Accept = Callable[[Mapping[str, Mapping[str, Any]]], bool]


@dataclasses.dataclass(frozen=True, slots=True)
class Firing:
    """One rule firing: the rule's key and the facts bound to its aliases."""

    rule: str
    matched: Mapping[str, Mapping[str, Any]]


@dataclasses.dataclass(slots=True)
class _Evaluation:
    firings: list[Firing] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    asserted: list[tuple[dict[str, Any], str]] = dataclasses.field(default_factory=list)
    next_id: int = 0
    closing: bool = False


_NOT_HANDLED, _OBSERVED, _NO_STATE = 1, 2, 3


class RulesBackend:
    """A compiled set of rules in one durable_rules ruleset; evaluates one fact set at a time.

    ``rules`` maps a rule key to ``(condition, priority, action)`` or ``(condition, priority,
    action, accept)`` where ``condition`` is a durable_rules condition dict (``{"all": [...]}``
    or ``{"any": [...]}``) and ``accept`` (optional) vets each match before it counts.

    We drive the C core (``durable_rules_engine``) directly, as ``durable.engine`` does, without
    its Host: no timer threads, no global registry, and far less per-firing overhead.
    """

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(self, rules: Mapping[str, tuple[Any, ...]]) -> None:
        with RulesBackend._counter_lock:
            RulesBackend._counter += 1
            self.name = f"stridewise{RulesBackend._counter}"
        self._lock = threading.Lock()
        self._actions: dict[str, Action | None] = {key: spec[2] for key, spec in rules.items()}
        self._accept: dict[str, Accept] = {k: spec[3] for k, spec in rules.items() if len(spec) > 3}
        self._eval: _Evaluation | None = None
        definition = {
            key: {**json.loads(json.dumps(condition)), "pri": priority}
            for key, (condition, priority, *_) in rules.items()
        }
        self._handle: int | None = None
        if definition:
            try:
                self._handle = core.create_ruleset(
                    self.name, json.dumps(definition, ensure_ascii=False)
                )
            except Exception as exc:
                raise EngineError(f"the rules core refused the compiled rules: {exc}") from None

    # -- the core's protocol ---------------------------------------------------------------------

    def _core_assert(self, msg: Mapping[str, Any], text: str) -> int | None:
        """Assert one fact; the state handle whose actions are due, or None if unhandled."""
        result = core.assert_fact(self._handle, text)
        if result[0] == _NOT_HANDLED:
            return None
        if result[0] == _OBSERVED:
            raise EngineError(f"fact {msg['id']} asserted twice in one evaluation")
        return 0 if result[0] == _NO_STATE else int(result[1])

    def _run_actions(self, ev: _Evaluation, state_handle: int) -> None:
        """Run every action due, one at a time; actions may assert derived facts (chaining)."""
        started = core.start_action_for_state(self._handle, state_handle)
        if not started:
            return
        state_json, message_json = started[0], started[1]
        while True:
            message = json.loads(message_json)
            for key, matched in message.items():
                self._on_fire(ev, key, matched)
                break
            core.update_state(self._handle, state_json)
            message_json = core.complete_and_start_action(self._handle, state_handle)
            if not message_json:
                return

    def _on_fire(self, ev: _Evaluation, key: str, raw: Any) -> None:
        if ev.closing:
            return  # firings caused by retracting after an evaluation are not findings
        try:
            matched = {
                alias: {k: v for k, v in fact.items() if k not in ("sid", "id")}
                for alias, fact in (raw or {}).items()
                if isinstance(fact, dict)
            }
            accept = self._accept.get(key)
            if accept is not None and not accept(matched):
                return
            ev.firings.append(Firing(key, matched))
            action = self._actions.get(key)
            for derived in action(matched) if action else ():
                self._assert(ev, dict(derived), run_actions=False)
        except Exception as exc:  # never let the core swallow it
            ev.errors.append(f"rule {key}: {type(exc).__name__}: {exc}")

    def _assert(self, ev: _Evaluation, fact: dict[str, Any], *, run_actions: bool = True) -> None:
        if len(fact) > MAX_FIELDS:
            raise EngineError(
                f"fact {fact.get('type')!r} has {len(fact)} fields (max {MAX_FIELDS})"
            )
        if ev.next_id >= len(FACT_IDS):
            raise EngineError(f"more than {len(FACT_IDS)} facts in one evaluation")
        msg = {k: v if type(v) in _PLAIN else normalize(v, k) for k, v in fact.items()}
        msg["id"] = FACT_IDS[ev.next_id]
        msg["sid"] = SID
        ev.next_id += 1
        text = json.dumps(msg, ensure_ascii=False)  # kept: the retraction sends the same text
        try:
            state_handle = self._core_assert(msg, text)
        except EngineError:
            raise
        except Exception as exc:  # the core failed half-way: the fact may be stored
            ev.asserted.append((msg, text))
            raise EngineError(f"the rules core rejected a {msg.get('type')} fact: {exc}") from None
        if state_handle is None:
            return  # no rule looks at this fact: the core does not store it
        ev.asserted.append((msg, text))
        if run_actions:  # inside an action, the running loop picks up what this caused
            self._run_actions(ev, state_handle)

    def _retract(self, ev: _Evaluation, msg: Mapping[str, Any], text: str, what: str) -> None:
        try:
            result = core.retract_fact(self._handle, text)
            if result[0] not in (_NOT_HANDLED, _OBSERVED):
                self._run_actions(ev, 0 if result[0] == _NO_STATE else int(result[1]))
        except Exception as exc:
            ev.errors.append(f"{what} {msg.get('type')}: {exc}")

    def evaluate(self, facts: Sequence[Mapping[str, Any]]) -> list[Firing]:
        """Assert ``facts``, run the rules to quiescence, retract everything, return firings."""
        if self._handle is None:
            return []
        with self._lock:
            ev = self._eval = _Evaluation()
            try:
                for fact in facts:
                    self._assert(ev, dict(fact))
                    if ev.errors:
                        break
            finally:
                ev.closing = True
                for msg, text in reversed(ev.asserted):
                    self._retract(ev, msg, text, "retracting")
                self._eval = None
                for msg in self._leftover():  # whatever the core kept despite an error
                    self._retract(ev, msg, json.dumps(msg, ensure_ascii=False), "cleaning up")
                leftover = self._leftover()
                if leftover:
                    ev.errors.append(f"{len(leftover)} facts left in the session after cleanup")
            if ev.errors:
                raise EngineError("; ".join(ev.errors))
            return ev.firings

    def _leftover(self) -> list[Any]:
        try:
            facts: list[Any] = json.loads(core.get_facts(self._handle, SID))
        except Exception:  # the core reports "no such session" (309) before the first fact
            return []
        return facts


_PLAIN = (str, int, bool, type(None))


def normalize(value: Any, name: str = "value") -> Any:
    """A value the core compares correctly: str, bool, int, or a float in plain notation."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EngineError(f"field {name!r} is {value}, not a finite number")
        if value == int(value) and abs(value) < 1e15:
            return float(int(value))
        if abs(value) < 1e-4:
            return 0.0  # 1e-05 would be serialized in exponent form, which the core rejects
        if abs(value) >= 1e15:
            raise EngineError(f"field {name!r} is too large ({value})")
        return round(value, 6)
    raise EngineError(f"field {name!r} has unsupported type {type(value).__name__}")
