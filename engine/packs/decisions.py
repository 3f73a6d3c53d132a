"""The decision log: an append-only JSON-lines audit of evaluations (:class:`DecisionLog`,
:func:`record`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import threading
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ..cards import Card, card_uuid
from ..errors import InputError
from ..runtime import Engine, Evaluation

_HEADER_KEY = "stridewise_decision_log"


@contextlib.contextmanager
def _append_fd(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_RDWR | os.O_APPEND)
    try:
        yield fd
    finally:
        os.close(fd)


class DecisionLog:
    """An append-only JSON-lines log of evaluations.

    The first line is a header holding the log's random salt; athletes are recorded only as
    ``sha256(salt + ":" + id)``. Each entry is written with one ``write`` on an ``O_APPEND``
    file and synced; a line that does not parse is skipped on reading (see :attr:`problems`).
    """

    def __init__(self, path: Path | str, *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.problems: list[tuple[int, str]] = []
        self._salt: str | None = None
        self._lock = threading.Lock()

    # -- header --------------------------------------------------------------------------------

    @property
    def salt(self) -> str:
        """The log's salt, creating the log with a fresh one if it does not exist yet."""
        if self._salt is None:
            with self._lock:
                if self._salt is None:
                    self._salt = self._open_header()
        return self._salt

    def _open_header(self) -> str:
        header = {
            _HEADER_KEY: 1,
            "salt": secrets.token_hex(16),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if not self.path.exists() and self._create(header):
            return str(header["salt"])
        try:
            with self.path.open("rb") as fh:
                first = fh.readline()
        except OSError as exc:
            raise InputError(
                f"cannot read the decision log: {exc.strerror}", file=str(self.path)
            ) from None
        if not first.strip():  # an empty file someone created: make it a log
            with _append_fd(self.path) as fd:
                self._write(fd, header)
            return str(header["salt"])
        try:
            parsed = json.loads(first)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("salt"), str):
            raise InputError(
                "line 1 is not a stridewise decision log header; refusing to append",
                file=str(self.path),
                row=1,
            )
        return str(parsed["salt"])

    def _create(self, header: Mapping[str, Any]) -> bool:
        """Create the log with its header in one step (False if another writer was first)."""
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                self._write(fd, header)
            finally:
                os.close(fd)
            os.link(tmp, self.path)  # appears whole, header included, or not at all
        except FileExistsError:
            return False
        except OSError as exc:
            raise InputError(
                f"cannot create the decision log: {exc.strerror or exc}", file=str(self.path)
            ) from None
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def hash_athlete(self, athlete_id: str) -> str:
        """How the athlete appears in this log (and should appear in card uuids)."""
        return hashlib.sha256(f"{self.salt}:{athlete_id}".encode()).hexdigest()

    # -- writing ---------------------------------------------------------------------------------

    def _write(self, fd: int, entry: Mapping[str, Any]) -> None:
        data = (json.dumps(entry, ensure_ascii=False, default=str) + "\n").encode("utf-8")
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # a torn last line (a crash mid-write) stays on its own line
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if self.fsync:
            os.fsync(fd)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Append one entry (one line)."""
        _ = self.salt  # the header goes first
        with self._lock:
            try:
                with _append_fd(self.path) as fd:
                    self._write(fd, entry)
            except OSError as exc:
                raise InputError(
                    f"cannot write the decision log: {exc.strerror or exc}", file=str(self.path)
                ) from None

    # -- reading ---------------------------------------------------------------------------------

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every decision in order; broken lines are skipped and listed in :attr:`problems`."""
        self.problems = []
        try:
            fh = self.path.open("rb")
        except FileNotFoundError:
            return
        with fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except ValueError as exc:
                    self.problems.append((n, f"not JSON: {exc}"))
                    continue
                if not isinstance(obj, dict):
                    self.problems.append((n, "not a JSON object"))
                elif _HEADER_KEY in obj:
                    if n != 1:
                        self.problems.append((n, "a second header"))
                elif "decision_id" not in obj:
                    self.problems.append((n, "no decision_id"))
                else:
                    yield obj

    def for_athlete(self, athlete_id: str) -> Iterator[dict[str, Any]]:
        """The decisions recorded for one athlete."""
        wanted = self.hash_athlete(athlete_id)
        return (e for e in self.entries() if e.get("athlete") == wanted)


def effective_parameters(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every pack's parameter values in this engine (defaults with overrides applied)."""
    out = {p.id: {n: q.default for n, q in p.parameters.items()} for p in engine.packs}
    for rule in engine.rules:
        out[rule.pack.id].update(rule.params)
    return out


def record(
    log: DecisionLog,
    engine: Engine,
    evaluation: Evaluation,
    athlete_id: str,
    *,
    clinic: str | None = None,
) -> dict[str, Any]:
    """Append one evaluation to ``log``; returns the entry written.

    Card uuids derive from the ``athlete`` the evaluation ran with: evaluate with
    ``athlete=log.hash_athlete(athlete_id)`` so app and log share uuids without the raw id.
    Cards whose uuid derives from the raw id are recorded with the hashed-id uuid instead.
    """
    hashed = log.hash_athlete(athlete_id)

    def logged(card: Card) -> dict[str, Any]:
        data = card.to_dict()
        if card.uuid == card_uuid(athlete_id, card.key, card.date):
            data["uuid"] = card_uuid(hashed, card.key, card.date)
        return data

    cards = [logged(c) for c in evaluation.cards]
    entry = {
        "decision_id": str(uuid.uuid4()),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "athlete": hashed,
        "as_of": evaluation.date.isoformat(),
        "clinic": clinic,
        "packs": [
            {"id": p.id, "version": p.version, "content_hash": p.content_hash} for p in engine.packs
        ],
        "parameters": effective_parameters(engine),
        "disabled": sorted(engine.disabled),
        "reworded": sorted(engine.wording),
        "facts": [dict(f) for f in evaluation.facts],
        "fired": list(evaluation.fired),
        "cards": cards,
        # what fired and did not show, with the card that took its place (audit)
        "suppressed": [logged(c) for c in evaluation.suppressed],
        # packs that failed in this evaluation: the cards above are incomplete
        "failures": [f.to_dict() for f in evaluation.failures],
    }
    log.append(entry)
    return entry
