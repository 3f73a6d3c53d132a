"""One pool of evaluation worker processes per clinic profile.

Each distinct profile (a profile file, or none: every installed pack with its defaults) gets its
own :class:`~stridewise.IsolatedEngine`, started on first use and kept: clinics that share a
profile share its workers. A worker killed mid-evaluation is replaced and the evaluation retried
once by the engine; a second failure raises :class:`~stridewise.WorkerCrashed`, which the app
answers with 503 naming the athlete.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stridewise.engine.isolation import IsolatedEngine
    from stridewise.engine.rules import RulePack


class EnginePool:
    """Isolated engines by clinic profile (thread-safe)."""

    def __init__(self, *, workers: int, timeout: float) -> None:
        self.workers = workers
        self.timeout = timeout
        self._engines: dict[str, IsolatedEngine] = {}
        self._lock = threading.Lock()
        self._packs: list[RulePack] | None = None
        self._closed = False

    def _installed(self) -> list[RulePack]:
        if self._packs is None:
            import stridewise

            self._packs, _errors = stridewise.plugin_packs()
        return self._packs

    def engine(self, profile: str | None) -> IsolatedEngine:
        """The engine for ``profile`` (a profile file's path; ``None``: installed packs)."""
        key = str(Path(profile).resolve()) if profile else ""
        engine = self._engines.get(key)
        if engine is not None:
            return engine
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                if self._closed:
                    from stridewise.engine.errors import EngineError

                    raise EngineError("the service is shutting down")
                engine = self._engines[key] = self._build(profile)
        return engine

    def _build(self, profile: str | None) -> IsolatedEngine:
        from stridewise.engine.isolation import IsolatedEngine

        if not profile:
            return IsolatedEngine(self._installed(), workers=self.workers, timeout=self.timeout)
        from stridewise.engine.packs import load_profile

        loaded = load_profile(profile)
        resolved = loaded.resolve(self._installed())
        if resolved.errors:
            raise resolved.errors[0]
        return IsolatedEngine(
            resolved.packs,
            overrides=resolved.overrides,
            disabled=loaded.disabled,
            wording=loaded.wording,
            workers=self.workers,
            timeout=self.timeout,
        )

    def worker_count(self) -> int:
        """Live worker processes over every pool."""
        return sum(len(e.worker_pids()) for e in list(self._engines.values()))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            engines = list(self._engines.values())
            self._engines.clear()
        for engine in engines:
            engine.close()
