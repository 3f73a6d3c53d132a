"""Evaluation in worker processes: a crash in the rules core kills a worker, not the app.

durable_rules' C core can take its process down (a segfault, an abort; see
:mod:`stridewise.engine.backend`). An app that cannot afford that (a clinic server, a sync
service) evaluates through :class:`IsolatedEngine` instead of :class:`~.runtime.Engine`::

    import stridewise

    def main() -> None:
        packs, _ = stridewise.plugin_packs()
        with stridewise.IsolatedEngine(packs, workers=2) as engine:
            cards = engine.evaluate(history, as_of, athlete="a-17")

    if __name__ == "__main__":  # workers start from a fork server: guard the main module
        main()

Facts are derived in the app's process (plain Python); each worker holds its own compiled
engine and only runs the rules. When a worker dies mid-evaluation (or takes longer than
``timeout`` seconds and is killed), it is replaced by a fresh one and the evaluation is retried
once; if that fails too, :class:`WorkerCrashed` (an :class:`EngineError`) names the athlete,
the packs and what happened to each worker. Nothing else changes: same cards, same
:class:`~.runtime.Evaluation`, same errors (a pack failure is reported in
``Evaluation.failures`` as in-process). The overhead per evaluation is measured in
``benchmarks/bench_isolation.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import multiprocessing
import os
import queue
import signal
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from .errors import EngineError, RulesetError, StridewiseError
from .rules import CompiledRule, RulePack, compile_packs
from .runtime import Engine, Evaluation, Evaluator, Wording

#: Seconds a new worker may take to start and build its engine.
START_TIMEOUT = 120.0


class WorkerCrashed(EngineError):
    """An evaluation killed its worker twice (or timed out twice): nothing was evaluated."""

    def __init__(self, message: str, *, athlete: str, packs: Sequence[str]) -> None:
        super().__init__(message)
        self.athlete = athlete
        self.packs = tuple(packs)


class _WorkerDied(Exception):
    """The worker running a request is gone (crashed, killed, or timed out and was killed)."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Config:
    packs: tuple[RulePack, ...]
    overrides: Mapping[str, Mapping[str, Any]]
    disabled: frozenset[str]
    wording: Mapping[str, Wording]
    allow_protected: bool


def _worker_main(conn: Connection, config: _Config) -> None:
    """A worker: build the engine, then answer requests until told to stop (or orphaned)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the app's to handle
    try:
        engine = Engine(
            config.packs,
            overrides=config.overrides,
            disabled=config.disabled,
            wording=config.wording,
            allow_protected=config.allow_protected,
        )
    except Exception as exc:
        conn.send(("error", *_describe(exc)))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the app is gone
        if request[0] == "stop":
            return
        _, facts, as_of, athlete, fault = request
        if fault is not None:
            _FAULTS[fault](engine)
        try:
            evaluation = engine.evaluate_facts(facts, as_of, athlete=athlete)
        except Exception as exc:
            conn.send(("error", *_describe(exc)))
            continue
        conn.send(("ok", dataclasses.replace(evaluation, facts=())))


def _describe(exc: BaseException) -> tuple[str, str, str | None, int | None]:
    if isinstance(exc, RulesetError):
        return ("RulesetError", exc.reason, exc.file, exc.line)
    return (type(exc).__name__, str(exc), None, None)


def _rebuild(kind: str, message: str, file: str | None, line: int | None) -> StridewiseError:
    if kind == "RulesetError":
        return RulesetError(message, file=file, line=line)
    if kind == "EngineError":
        return EngineError(message)
    return EngineError(f"{kind}: {message}")


def _segfault(engine: Engine) -> None:
    engine._backend._crash()  # a real segmentation fault inside the rules core


def _abort(engine: Engine) -> None:
    os.abort()  # what a failed assertion in C does: SIGABRT, no cleanup


def _kill(engine: Engine) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _hang(engine: Engine) -> None:
    threading.Event().wait()


#: Faults a test can inject into the next requests (see :meth:`IsolatedEngine._inject`).
_FAULTS: dict[str, Callable[[Engine], None]] = {
    "segfault": _segfault,
    "abort": _abort,
    "kill": _kill,
    "hang": _hang,
}


class _Worker:
    def __init__(self, ctx: Any, config: _Config) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(
            target=_worker_main, args=(child, config), name="stridewise-worker", daemon=True
        )
        self.process.start()
        child.close()

    def ready(self, timeout: float) -> None:
        reply = self._receive(timeout, "starting")
        if reply[0] != "ready":
            self.stop()
            raise _rebuild(*reply[1:])

    def call(self, request: tuple[Any, ...], timeout: float | None) -> Any:
        try:
            self.conn.send(request)
        except (OSError, ValueError) as exc:
            self.kill()
            raise _WorkerDied(f"could not reach the worker ({exc})") from None
        return self._receive(timeout, "evaluating")

    def _receive(self, timeout: float | None, doing: str) -> Any:
        ready = wait([self.conn, self.process.sentinel], timeout)
        if self.conn in ready:
            try:
                return self.conn.recv()
            except (EOFError, OSError):
                pass  # it died after all: fall through
        if not ready:
            self.kill()
            raise _WorkerDied(f"no answer after {timeout:g} s while {doing}; worker killed")
        self.process.join(5)
        raise _WorkerDied(f"the worker died while {doing} ({_exit_status(self.process.exitcode)})")

    def stop(self) -> None:
        if self.process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self.conn.send(("stop",))
            self.process.join(2)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self.conn.close()


def _exit_status(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def _shutdown(workers: list[_Worker]) -> None:
    for worker in list(workers):
        worker.stop()
    workers.clear()


def _default_context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has already imported the engine: starting one (or
        # replacing a crashed one) costs the engine build, not a Python start-up.
        ctx.set_forkserver_preload(["stridewise.engine.runtime"])
        return ctx
    return multiprocessing.get_context("spawn")


class IsolatedEngine(Evaluator):
    """An :class:`~.runtime.Engine` whose rules run in a pool of worker processes.

    Same arguments as :class:`~.runtime.Engine`, plus ``workers`` (processes; each evaluates
    one athlete at a time, so this is also how many evaluations run at once), ``timeout``
    (seconds one evaluation may take before its worker is killed; ``None``: no limit) and
    ``context`` (a :mod:`multiprocessing` context; default: fork server where available, else
    spawn). Thread-safe. Call :meth:`close` (or use it as a context manager) to stop the
    workers; they are also stopped when the engine is garbage-collected and when the app exits.
    """

    def __init__(
        self,
        packs: Iterable[RulePack],
        *,
        workers: int = 2,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        disabled: Iterable[str] = (),
        wording: Mapping[str, Wording] | None = None,
        allow_protected: bool = False,
        timeout: float | None = 60.0,
        context: Any = None,
    ) -> None:
        if workers < 1:
            raise ValueError("an isolated engine needs at least one worker")
        self.packs = list(packs)
        self.overrides = {k: dict(v) for k, v in (overrides or {}).items()}
        self.disabled = frozenset(disabled)
        self.wording = dict(wording or {})
        self.timeout = timeout
        # Compiled here too (plain Python, no rules core): what decision logs and explain read,
        # and a mistake in the packs or the profile is raised before any worker starts.
        self.rules: list[CompiledRule]
        self.rules, self.strata = compile_packs(
            self.packs, overrides=overrides, disabled=self.disabled, allow_protected=allow_protected
        )
        self._config = _Config(
            tuple(self.packs),
            self.overrides,
            self.disabled,
            self.wording,
            allow_protected,
        )
        self._ctx = context or _default_context()
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        self._faults: list[str] = []
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        try:
            started = [self._spawn() for _ in range(workers)]
            for worker in started:
                worker.ready(START_TIMEOUT)
                self._idle.put(worker)
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_engine(cls, engine: Engine, **options: Any) -> IsolatedEngine:
        """Workers that rebuild ``engine`` (its packs, parameters, disabled rules, wording)."""
        return cls(
            engine.packs,
            overrides=engine.overrides,
            disabled=engine.disabled,
            wording=engine.wording,
            allow_protected=engine.allow_protected,
            **options,
        )

    # -- evaluation (evaluate and timeline come from Evaluator, as in Engine) -------------------

    def evaluate_facts(
        self, facts: Sequence[Mapping[str, Any]], as_of: dt.date, *, athlete: str = "athlete"
    ) -> Evaluation:
        """Run the rules over ready-made facts in a worker; retried once on a fresh worker."""
        facts = tuple(facts)
        sent = [dict(f) for f in facts]
        what: list[str] = []
        for _attempt in range(2):
            with self._lock:
                fault = self._faults.pop(0) if self._faults else None
            worker = self._take()
            try:
                reply = worker.call(("eval", sent, as_of, athlete, fault), self.timeout)
            except _WorkerDied as died:
                what.append(str(died))
                self._replace(worker)
                continue
            self._idle.put(worker)
            if reply[0] == "ok":
                evaluation: Evaluation = reply[1]
                return dataclasses.replace(evaluation, facts=facts)
            raise _rebuild(*reply[1:])
        packs = [f"{p.id} {p.version}" for p in self.packs]
        raise WorkerCrashed(
            f"evaluating athlete {athlete!r} as of {as_of.isoformat()} with packs "
            f"{', '.join(packs)} crashed the rules core twice ({'; then '.join(what)}): "
            "nothing was evaluated",
            athlete=athlete,
            packs=packs,
        )

    # -- the pool --------------------------------------------------------------------------------

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._config)
        with self._lock:
            self._workers.append(worker)
        return worker

    def _take(self) -> _Worker:
        if self._closed:
            raise EngineError("this isolated engine is closed")
        with self._lock:
            empty = not self._workers
        if empty:  # every replacement failed so far: try once more
            self._replace(None)
        return self._idle.get()

    def _replace(self, dead: _Worker | None) -> None:
        if dead is not None:
            with self._lock:
                if dead in self._workers:
                    self._workers.remove(dead)
            dead.kill()
        if self._closed:
            return
        worker = self._spawn()
        try:
            worker.ready(START_TIMEOUT)
        except BaseException:
            with self._lock:
                self._workers.remove(worker)
            worker.kill()
            raise
        self._idle.put(worker)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for monitoring)."""
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def _inject(self, *faults: str) -> None:
        """Test hook: the next requests make their worker crash in the rules core
        (``segfault``), ``abort``, ``kill`` itself or ``hang`` before evaluating (one fault per
        request, in order)."""
        unknown = set(faults) - set(_FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        with self._lock:
            self._faults.extend(faults)

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        self._closed = True
        self._finalizer()

    def __enter__(self) -> IsolatedEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
