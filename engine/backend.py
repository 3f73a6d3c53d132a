"""The one module that touches durable_rules' C core (``durable_rules_engine``).

What the core does for us: it compiles the rules (``create_ruleset``, a JSON definition) into
a Rete network; ``assert_fact``/``retract_fact`` run facts through it; the rules that match are
queued per session and handed out one at a time (``start_action_for_state``, then
``complete_and_start_action`` once we ran the action, or ``abandon_action`` to give it up);
facts an action asserts are matched before the queue moves on (forward chaining).

Its sharp edges, how each is handled here, and the test that pins it (B = tests/test_backend.py,
H = tests/test_core_hazards.py, I = tests/test_isolation.py, P = tests/test_pack_hazards.py;
see docs/engine.md for what was measured before building on the core):

- ``durable.lang`` is process-global and ``durable.engine.Host`` starts timer threads that never
  stop: we drive the C core directly, one ruleset per backend.
  B test_backends_do_not_share_state
- Sessions are capped at 1,024: athletes' facts live in our code; each evaluation borrows the
  single session ``SID`` and retracts everything asserted (facts and what rules derived)
  before it returns; the actions those retractions queue are drained (not recorded) once the
  last fact is out, and the session is read back (``get_facts``, a few microseconds when it is
  empty): anything left is retracted, and if it still stays the ruleset is compiled afresh.
  B test_more_than_1024_evaluations_do_not_exhaust_sessions
  B test_repeated_evaluations_are_independent_and_leave_nothing_behind
- An exception escaping while the core has an action open (an exception from a signal handler
  such as a per-request timeout, ``KeyboardInterrupt``, ``SystemExit``: any ``BaseException``)
  left the action open: the session stayed locked, every later evaluation on that engine
  returned no firings and no error (no cards at all, red flags included), and once the action's
  lease ran out the core crashed in ``start_action_for_state``. Now, whatever escapes,
  ``abandon_action(ruleset, state)`` releases the action, the queued actions are drained, the
  facts retracted, and the exception is re-raised to the caller as it is; an error raised by a
  rule is an :class:`EngineError` (``__cause__`` = the original) unless the runtime records it
  as a pack failure. If the cleanup itself is interrupted, the next evaluation starts from a
  freshly compiled ruleset.
  H test_an_interrupt_during_a_derive_action_reaches_the_app_and_night_pain_still_shows_after
  H test_a_timeout_signal_that_lands_in_a_derive_action_reaches_the_app_within_its_deadline
  H test_a_timeout_that_lands_between_two_calls_into_the_core_is_re_raised_and_the_engine_recovers
  H test_an_interrupt_during_the_cleanup_leaves_the_next_evaluation_whole
- The core never frees a compiled ruleset by itself (~1.5 MB per engine with the built-in
  packs; 131,072 handles per process at most). A ``weakref.finalize`` on each backend frees
  its session (``delete_state``, only once it is empty) and then its ruleset
  (``delete_ruleset``, which alone leaves the session's memory behind) when the engine is
  dropped.
  H test_an_app_that_builds_an_engine_per_request_does_not_run_out_of_memory
  H test_a_dropped_engine_frees_its_ruleset_in_the_core
- A new session's action context (two pointers) stays uninitialised until an action runs, and
  ``delete_state`` and ``abandon_action`` free it: on a session that never ran an action they
  free heap garbage (SIGSEGV or glibc's abort, depending on the heap; this is the "delete_state
  can segfault" of engine-notes.md). Every ruleset carries one internal rule whose action its
  session runs once when the ruleset is created: from then on the pointers are valid or NULL.
  H test_dropping_engines_whose_rules_never_fired_does_not_crash_the_process
- The core keys message ids, field names and aliases by a 32-bit hash of the name, not by the
  name: FNV-1a (its ``fnv1Hash32`` xors then multiplies, over signed chars). Fact ids come from
  a fixed pool checked collision-free under FNV-1a at import. At build time every fact type,
  alias and field name the rules test, show or derive is checked against the others and
  against the names the core reserves (``HASH_*`` in its sources): a collision is refused with
  a :class:`RulesetError` naming both names, the rule, its file and line.
  H test_the_id_pool_is_checked_with_the_hash_the_core_keys_messages_by
  H test_a_pack_deriving_two_fields_the_core_cannot_tell_apart_is_refused_naming_both
  H test_a_field_with_the_hash_of_the_message_id_is_refused_as_reserved_by_the_core
- Exceptions in actions are swallowed by the core: our actions never raise into it; an error is
  recorded and raised after the evaluation.
  B test_exceptions_in_actions_surface
- Types: only str, bool, int and finite floats reach the core. A string compared with a number
  matches (``'5' > 10``), so types are checked when packs load. Floats go exactly, never
  rounded (explain and the engine must agree at a threshold), and in plain decimal notation:
  the core refuses ``1e-07`` (error 204) but reads ``0.0000001``; :func:`to_json` writes every
  fact and the compiled rules that way (a pack's ``1.0e-7`` builds).
  B test_types_are_normalized_before_the_core
  P test_explain_and_the_engine_agree_at_a_threshold
  P test_an_exponent_literal_is_normalised_so_every_pack_still_builds
- ``create_ruleset`` refuses a whole ruleset for one rule (every pack would be lost): error 108
  when more than 256 rules share one pattern (at exactly 257, not every time), 113 when
  any/all nest more than 15 levels; and it never returns when more than 512 different tests
  follow one test (a 513-value ``in``, or 513 rules testing one field for different values).
  The compiler refuses each with pack, rule, file and line (``rules._check_sharing``,
  ``_check_nesting``, ``_check_fanout``; lint reports them), and any other refusal is located
  by bisection (``rules.core_refusal``).
  P test_more_than_256_rules_on_one_pattern_is_a_lint_error_not_a_core_crash
  P test_any_nested_deeper_than_the_core_allows_is_a_lint_error_with_rule_and_line
  P test_an_in_list_of_513_values_is_refused_before_the_core_hangs_on_it
- The core answers what it is asked, even when the rules contradict themselves: a rule testing
  the absence of a fact its own firing derives (through any chain) fires and then sees the fact
  present. Rules are stratified through every derivation path and such a cycle is refused
  with the rule's file and line.
  P test_a_pack_whose_absence_test_feeds_back_through_a_derivation_is_refused
- A rule that raises in Python (a join comparing text with a number) is recorded as a pack
  failure (``Evaluation.failures``, ``failed_packs``): that pack's findings are withheld (its
  red flags that fired kept), every other pack's cards still show.
  P test_a_third_party_pack_that_fails_keeps_the_built_in_red_flags
- ``assert_facts`` loses firings and segfaults on empty lists: we assert one fact per call.
  B test_fact_no_rule_matches_is_ignored_not_lost
- Joins between facts (``{"$gte": {"f": {"alias": "g"}}}``) read past the core's buffers when
  a comparison fails (valgrind: invalid reads in ``reduceExpressionSequence``) and raise error
  311 on a missing field: the compiler never emits them; joins are checked in Python by each
  rule's ``accept`` function.
  B test_forward_chaining_and_joins
- Not thread-safe: every call holds the backend's lock.
  B test_calls_are_serialized_across_threads
- A crash inside the core (segfault, abort) takes its process with it: apps that cannot afford
  that evaluate in worker processes (:mod:`stridewise.engine.isolation`); a crashed worker is
  replaced, the evaluation retried once, then reported as an error naming athlete and packs.
  I test_a_worker_that_crashes_is_replaced_and_the_evaluation_retried
"""

from __future__ import annotations

import contextlib
import dataclasses
import decimal
import json
import math
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import durable_rules_engine as core  # the C core shipped by the durable-rules distribution
import orjson

from .errors import EngineError, RulesetError

SID = "1"
#: The core stores at most 64 properties per message (``MAX_OBJECT_PROPERTIES``).
MAX_FIELDS = 60
_ID_POOL_SIZE = 4096


def fnv1a_32(data: bytes) -> int:
    """The 32-bit hash the core keys names and message ids by (its ``fnv1Hash32``).

    It is FNV-1a (xor, then multiply), over C ``char``s: on the platforms we build for these are
    signed, so a byte >= 0x80 is sign-extended before the xor.
    """
    h = 0x811C9DC5
    for byte in data:
        h ^= byte | 0xFFFFFF00 if byte >= 0x80 else byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


#: Former name of :func:`fnv1a_32` (it was FNV-1, which the core does not use).
fnv1_32 = fnv1a_32


def name_hash(name: str) -> int:
    """The hash the core gives a field or alias name (the bytes between the JSON quotes)."""
    return fnv1a_32(json.dumps(name, ensure_ascii=False)[1:-1].encode())


#: Names the core itself reads by hash (``HASH_*`` in ``rete.c``, ``state.h``, ``events.c``),
#: with the value the core's headers give. A field or alias with the same hash as one of these
#: (and another spelling) would be read as the core's own.
CORE_NAMES: Mapping[str, int] = {
    "id": 926444256,
    "sid": 3593476751,
    "$i": 1622948014,
    "all": 321211332,
    "any": 740945997,
    "pri": 1450887882,
    "count": 967958004,
    "cap": 41178555,
    "dist": 1281379241,
    "$lt": 542787579,
    "$lte": 2350824890,
    "$gt": 507407960,
    "$gte": 3645344263,
    "$eq": 256037865,
    "$neq": 2488026869,
    "$mt": 576092554,
    "$imt": 1472564215,
    "$iall": 3261766877,
    "$iany": 3379504400,
    "$ex": 373481198,
    "$nex": 2605470202,
    "$or": 340911698,
    "$and": 3746487396,
    "$m": 1690058490,
    "name": 2369371622,
    "$add": 4081054038,
    "$sub": 1040718071,
    "$mul": 304370403,
    "$div": 130502,
    "$l": 1706836109,
    "$r": 1203507539,
    "$forward": 739185624,
}
#: The fact type (and alias) of the rule that initialises each new session (see _Ruleset).
INIT_FACT = "stridewise_init"
#: Fields every fact or derived fact carries besides what rules name, and our own names.
_OUR_NAMES = ("type", "rule", INIT_FACT)


def _id_pool(size: int) -> tuple[str, ...]:
    ids = tuple(f"f{i}" for i in range(size))
    hashes = {fnv1a_32(i.encode()) for i in ids}
    if len(hashes) != len(ids):  # pragma: no cover - checked by a test; would be a core change
        raise RuntimeError("fact id pool has FNV-1a collisions")
    return ids


FACT_IDS = _id_pool(_ID_POOL_SIZE)

#: An action: receives the matched facts (alias -> fields) and returns facts to assert.
Action = Callable[[Mapping[str, Mapping[str, Any]]], Sequence[Mapping[str, Any]]]
#: A check of a match (alias -> fields) that must pass for the firing to count.
Accept = Callable[[Mapping[str, Mapping[str, Any]]], bool]
#: Where a rule comes from, for errors: file and line.
Origin = tuple[str | None, int | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Firing:
    """One rule firing: the rule's key and the facts bound to its aliases."""

    rule: str
    matched: Mapping[str, Mapping[str, Any]]


@dataclasses.dataclass(slots=True)
class _Evaluation:
    firings: list[Firing] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    causes: list[Exception] = dataclasses.field(default_factory=list)
    asserted: list[tuple[dict[str, Any], str]] = dataclasses.field(default_factory=list)
    next_id: int = 0
    closing: bool = False
    #: The state whose action loop is running (between ``start_action_for_state`` and the
    #: ``complete_and_start_action`` that ends it): abandoned if anything escapes.
    open_state: int | None = None
    states: set[int] = dataclasses.field(default_factory=set)


_NOT_HANDLED, _OBSERVED, _NO_STATE = 1, 2, 3


def _delete_ruleset(handle: int) -> None:
    """Free a ruleset and its session (``delete_ruleset`` alone leaves the session, ~0.3 MB)."""
    with contextlib.suppress(Exception):  # 309: no session was ever created
        if json.loads(core.get_facts(handle, SID)) == []:  # only an emptied session is freed
            core.delete_state(handle, SID)
    with contextlib.suppress(Exception):  # the handle is ours and valid; nobody to tell
        core.delete_ruleset(handle)


class _Ruleset:
    """A compiled ruleset in the core, freed (``delete_ruleset``) when its owner is dropped.

    The core leaves a new session's action context (two pointers) uninitialised until an
    action runs; ``abandon_action`` and ``delete_state`` free those pointers, so on a session
    that never ran an action they free heap garbage (glibc aborts: "free(): invalid pointer",
    seen here in ``delete_state`` during the test suite, depending on the heap). Each ruleset
    therefore carries one extra rule, and its session runs that rule's action once at creation:
    from then on the pointers are valid or NULL.
    """

    def __init__(self, owner: object, definition: str, name: str) -> None:
        self.definition = definition
        self.name = name
        self.handle = self._create()
        self._free = weakref.finalize(owner, _delete_ruleset, self.handle)
        self._free.atexit = False  # at exit the process frees everything anyway

    def _create(self) -> int:
        try:
            handle = int(core.create_ruleset(self.name, self.definition))
        except Exception as exc:
            raise EngineError(f"the rules core refused the compiled rules: {exc}") from None
        text = json.dumps({"type": INIT_FACT, "id": "init", "sid": SID})
        result = core.assert_fact(handle, text)
        state = 0 if result[0] == _NO_STATE else int(result[1])
        started = core.start_action_for_state(handle, state)
        if not started:  # pragma: no cover - the init rule always fires
            raise EngineError("the rules core did not initialise its session")
        core.update_state(handle, started[0])
        core.complete_and_start_action(handle, state)
        core.retract_fact(handle, text)
        return handle

    def replace(self, owner: object) -> None:
        """Free this ruleset and compile a fresh one (after a cleanup that did not finish)."""
        self._free()
        self.handle = self._create()
        self._free = weakref.finalize(owner, _delete_ruleset, self.handle)
        self._free.atexit = False


class RulesBackend:
    """A compiled set of rules in one durable_rules ruleset; evaluates one fact set at a time.

    ``rules`` maps a rule key to ``(condition, priority, action)`` or ``(condition, priority,
    action, accept)`` where ``condition`` is a durable_rules condition dict (``{"all": [...]}``
    or ``{"any": [...]}``) and ``accept`` (optional) vets each match before it counts.
    ``names`` lists ``(field name, rule key)`` for fields the facts carry that conditions do not
    name (fields cards show, fields actions derive); ``origins`` maps a rule key to its file and
    line, for errors. Names whose hashes collide in the core are refused (:class:`RulesetError`).

    We drive the C core (``durable_rules_engine``) directly, as ``durable.engine`` does, without
    its Host: no timer threads, no global registry, and far less per-firing overhead. The
    compiled ruleset is freed when the backend is garbage-collected.
    """

    _counter = 0
    _counter_lock = threading.Lock()

    def __init__(
        self,
        rules: Mapping[str, tuple[Any, ...]],
        *,
        names: Iterable[tuple[str, str]] = (),
        origins: Mapping[str, Origin] | None = None,
    ) -> None:
        with RulesBackend._counter_lock:
            RulesBackend._counter += 1
            self.name = f"stridewise{RulesBackend._counter}"
        self._lock = threading.Lock()
        self._actions: dict[str, Action | None] = {key: spec[2] for key, spec in rules.items()}
        self._accept: dict[str, Accept] = {k: spec[3] for k, spec in rules.items() if len(spec) > 3}
        self._eval: _Evaluation | None = None
        #: Set while an evaluation's cleanup has not finished: the next call starts afresh.
        self._dirty = False
        definition = {
            key: {**json.loads(json.dumps(condition)), "pri": priority}
            for key, (condition, priority, *_) in rules.items()
        }
        check_names(
            [(n, key) for key, rule in definition.items() for n in condition_names(rule)]
            + list(names),
            origins or {},
        )
        self._ruleset: _Ruleset | None = None
        if definition:
            definition[INIT_FACT] = {"all": [{INIT_FACT: {"type": INIT_FACT}}], "pri": 0}
            self._ruleset = _Ruleset(self, to_json(definition), self.name)

    @property
    def _handle(self) -> int | None:
        return self._ruleset.handle if self._ruleset is not None else None

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
        """Run every action due, one at a time; actions may assert derived facts (chaining).

        Whatever escapes (an exception from a signal handler, ``KeyboardInterrupt``, an error
        of the core), the action the core has open is abandoned before it propagates: an open
        action locks the session (later evaluations see no firings at all) and, once its lease
        runs out, makes the core crash in ``start_action_for_state``.
        """
        ev.states.add(state_handle)
        ev.open_state = state_handle
        handle = self._handle
        try:
            started = core.start_action_for_state(handle, state_handle)
            if not started:
                ev.open_state = None
                return
            state_json, message_json = started[0], started[1]
            while True:
                message = _decode(message_json)
                for key, matched in message.items():
                    self._on_fire(ev, key, matched)
                    break
                core.update_state(handle, state_json)
                message_json = core.complete_and_start_action(handle, state_handle)
                if not message_json:
                    ev.open_state = None
                    return
        except BaseException:
            self._abandon(ev)
            raise

    def _abandon(self, ev: _Evaluation) -> None:
        """Release the action the core has open, if any (harmless when none is)."""
        state = ev.open_state
        if state is not None and self._handle is not None:
            core.abandon_action(self._handle, state)
            ev.open_state = None

    def _on_fire(self, ev: _Evaluation, key: str, raw: Any) -> None:
        if ev.closing or key == INIT_FACT:
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
                self._assert(ev, derived, run_actions=False)
        except Exception as exc:  # never let the core swallow it
            ev.errors.append(f"rule {key}: {type(exc).__name__}: {exc}")
            ev.causes.append(exc)

    def _assert(
        self, ev: _Evaluation, fact: Mapping[str, Any], *, run_actions: bool = True
    ) -> None:
        if len(fact) > MAX_FIELDS:
            raise EngineError(
                f"fact {fact.get('type')!r} has {len(fact)} fields (max {MAX_FIELDS})"
            )
        if ev.next_id >= len(FACT_IDS):
            raise EngineError(f"more than {len(FACT_IDS)} facts in one evaluation")
        msg = {
            k: v
            if (t := type(v)) in _PLAIN or (t is float and -1e15 < v < 1e15)  # NaN: normalize
            else normalize(v, k)
            for k, v in fact.items()
        }
        msg["id"] = FACT_IDS[ev.next_id]
        msg["sid"] = SID
        ev.next_id += 1
        text = to_json(msg)  # kept: the retraction sends the same text
        ev.asserted.append((msg, text))  # before the core sees it: retracting an unknown is safe
        try:
            state_handle = self._core_assert(msg, text)
        except EngineError:
            raise
        except Exception as exc:  # the core failed half-way: the fact may be stored
            raise EngineError(f"the rules core rejected a {msg.get('type')} fact: {exc}") from None
        if state_handle is None:
            ev.asserted.pop()  # no rule looks at this fact: the core does not store it
            return
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
        """Assert ``facts``, run the rules to quiescence, retract everything, return firings.

        Never returns a partial result: an error in a rule raises :class:`EngineError` (its
        ``__cause__`` is the first exception a rule raised); anything else that escapes
        (``KeyboardInterrupt``, a ``TimeoutError`` from a signal handler, ...) is re-raised as
        it is. Either way the core's open action is abandoned and the session emptied first, so
        the next evaluation on this backend is whole.
        """
        if self._ruleset is None:
            return []
        with self._lock:
            if self._dirty:  # the last cleanup was itself interrupted: start from a fresh ruleset
                self._ruleset.replace(self)
                self._dirty = False
            ev = self._eval = _Evaluation()
            self._dirty = True
            escaped: BaseException | None = None
            try:
                for fact in facts:
                    self._assert(ev, fact)
                    if ev.errors:
                        break
            except BaseException as exc:  # re-raised below, once the session is clean
                escaped = exc
            self._cleanup(ev)
            self._dirty = False
            if escaped is not None:
                raise escaped
            if ev.errors:
                raise EngineError("; ".join(ev.errors)) from (ev.causes[0] if ev.causes else None)
            return ev.firings

    def _cleanup(self, ev: _Evaluation) -> None:
        """Abandon any open action, drain what is queued, retract everything asserted."""
        ev.closing = True
        self._abandon(ev)
        for state in sorted(ev.states):  # actions still queued fire (ignored) and complete
            self._drain(ev, state)
        self._retract_all(ev)
        self._eval = None
        leftover = self._leftover()  # whatever the core kept despite an error
        for msg in leftover:
            self._retract(ev, msg, to_json(msg), "cleaning up")
        if leftover:
            leftover = self._leftover()
        if leftover:
            ev.errors.append(f"{len(leftover)} facts left in the session after cleanup")
            if self._ruleset is not None:
                self._ruleset.replace(self)

    def _retract_all(self, ev: _Evaluation) -> None:
        """Retract every fact asserted, newest first; the actions the retractions queue are
        drained once at the end (they fire during cleanup: never recorded)."""
        handle = self._handle
        due: set[int] = set()
        for msg, text in reversed(ev.asserted):
            try:
                result = core.retract_fact(handle, text)
            except Exception as exc:
                ev.errors.append(f"retracting {msg.get('type')}: {exc}")
                continue
            if result[0] not in (_NOT_HANDLED, _OBSERVED):
                due.add(0 if result[0] == _NO_STATE else int(result[1]))
        for state in sorted(due):
            self._drain(ev, state)

    def _drain(self, ev: _Evaluation, state: int) -> None:
        try:
            self._run_actions(ev, state)
        except Exception as exc:
            ev.errors.append(f"clearing queued actions: {exc}")

    def _crash(self) -> None:
        """Test hook (isolation tests): crash the process inside the core, as its bugs do.

        The core does not bounds-check a state offset: abandoning one far past the end of its
        pool writes outside it (SIGSEGV)."""
        if self._handle is not None:
            core.abandon_action(self._handle, 2**31)

    def _leftover(self) -> list[Any]:
        try:
            facts: list[Any] = _decode(core.get_facts(self._handle, SID))
        except Exception:  # the core reports "no such session" (309) before the first fact
            return []
        return facts


_PLAIN = (str, int, bool, type(None))


def _decode(text: str) -> Any:
    """The core's JSON answers, read by orjson (json's reading if orjson refuses a text)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _json_decode(text)


_json_decode = json.JSONDecoder().decode


def normalize(value: Any, name: str = "value") -> Any:
    """A value the core compares correctly: str, bool, int, or a float in plain notation."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise EngineError(f"field {name!r} is {value}, not a finite number")
        if abs(value) >= 1e15:
            raise EngineError(f"field {name!r} is too large ({value})")
        # Exact: no rounding (a value just above a threshold must stay above it, as explain
        # sees it); to_json writes 1e-05 as 0.00001, the notation the core parses.
        return value
    raise EngineError(f"field {name!r} has unsupported type {type(value).__name__}")


#: A number in exponent form as json.dumps writes it (1e-07, 1.5e+16): the core refuses it
#: unless the mantissa has a decimal point (error 204).
_EXPONENT = re.compile(r"[0-9][eE][-+]?[0-9]")


def to_json(obj: Any) -> str:
    """JSON text the core parses: every float in plain decimal notation, exactly.

    ``json.dumps`` writes 1e-07; the core refuses that (error 204) but reads 0.0000001 to the
    same double. The fast path is ``json.dumps``; only a text with an exponent is redone.
    """
    try:
        text = orjson.dumps(obj).decode()  # 5-10x json.dumps; the same JSON for what we send
    except TypeError:  # an int beyond 64 bits, a type orjson does not know: json's writing
        text = _encode(obj)
    return _plain_json(obj) if _EXPONENT.search(text) else text


#: ``json.dumps(obj, ensure_ascii=False)`` without its per-call setup and cycle check (what we
#: send is flat: facts of plain values, compiled rules of dicts and lists).
_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def _plain_json(obj: Any) -> str:
    if isinstance(obj, float):
        return plain_number(obj)
    if isinstance(obj, Mapping):
        items = (
            json.dumps(str(k), ensure_ascii=False) + ":" + _plain_json(v) for k, v in obj.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(_plain_json(v) for v in obj) + "]"
    return json.dumps(obj, ensure_ascii=False)


def plain_number(value: float) -> str:
    """A finite float in decimal notation that reads back to the same double (1e-07 ->
    0.0000001, 1e+16 -> 10000000000000000.0)."""
    text = repr(value)
    if "e" not in text:
        return text
    digits = format(decimal.Decimal(text), "f")
    return digits if "." in digits else digits + ".0"


# -- names the core keys by hash ----------------------------------------------------------------


def _base_name(name: str) -> str:
    """An alias as the core hashes it: without its ``$not``/``$all``/``$any`` suffix."""
    return name[:-4] if name.endswith(("$not", "$all", "$any")) else name


def condition_names(rule: Mapping[str, Any]) -> Iterator[str]:
    """Every alias and field name a compiled rule (``{"all"|"any": [...], "pri": n}``) uses."""
    for group in ("all", "any"):
        for pattern in rule.get(group) or ():
            for alias, expression in pattern.items():
                yield _base_name(alias)
                yield from _expression_names(expression)


def _expression_names(node: Any) -> Iterator[str]:
    if isinstance(node, list):
        for item in node:
            yield from _expression_names(item)
    elif isinstance(node, Mapping):
        for key, value in node.items():
            if key.startswith("$"):  # an operator: $and/$or (lists), $gt/$ex... ({field: value})
                yield from _expression_names(value)
                continue
            yield from key.split(".")
            if isinstance(value, Mapping):  # another fact's field ({alias: field}) or arithmetic
                yield from _operand_names(value)


def _operand_names(node: Mapping[str, Any]) -> Iterator[str]:
    for key, value in node.items():
        if key.startswith("$"):
            if isinstance(value, Mapping):
                yield from _operand_names(value)
            continue
        yield key
        if isinstance(value, str):
            yield from value.split(".")
        elif isinstance(value, Mapping):
            yield from _operand_names(value)


def check_names(uses: Iterable[tuple[str, str]], origins: Mapping[str, Origin]) -> None:
    """Refuse names (with the rule keys using them) that the core could not tell apart.

    The core keys fields and aliases by a 32-bit FNV-1a hash of the name, not by the name:
    two spellings with one hash in one ruleset would make a test on one read the other.
    """
    by_hash: dict[int, dict[str, str | None]] = {}
    for name in (*CORE_NAMES, *_OUR_NAMES):
        by_hash.setdefault(name_hash(name), {})[name] = None
    for name, key in uses:
        by_hash.setdefault(name_hash(name), {}).setdefault(name, key)
    for value, spellings in by_hash.items():
        if len(spellings) < 2:
            continue
        (first, key1), (second, key2) = sorted(
            spellings.items(), key=lambda item: (item[1] is not None, item[0])
        )[:2]
        where = [k for k in (key2, key1) if k is not None]
        file, line = origins.get(where[0], (None, None)) if where else (None, None)
        raise RulesetError(
            f"names {_described(first, key1)} and {_described(second, key2)} have the same "
            f"hash in the rules core (FNV-1a {value}): a test on one would read the other; "
            "rename one of them",
            file=file,
            line=line,
        )


def _described(name: str, key: str | None) -> str:
    return f"{name!r} (reserved by the rules core)" if key is None else f"{name!r} (rule {key})"
