"""Error types. Everything a user can cause is a :class:`StridewiseError` with a clear message."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class StridewiseError(Exception):
    """Base class for every error stridewise raises on purpose."""


class InputError(StridewiseError):
    """Bad input: names where (file, row, field) and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | str | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        self.reason = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(self, *, file: str | None = None, row: int | str | None = None) -> InputError:
        """Return a copy of this error with the file and/or row filled in."""
        return InputError(
            self.reason,
            file=file if file is not None else self.file,
            row=row if row is not None else self.row,
            field=self.field,
        )


class EventValidationError(InputError):
    """An event failed its schema; ``messages`` maps field names to problems."""

    def __init__(
        self,
        messages: Mapping[str, Any],
        *,
        kind: str,
        file: str | None = None,
        row: int | str | None = None,
    ) -> None:
        self.messages = dict(messages)
        self.kind = kind
        parts = [f"{name}: {_flatten(problem)}" for name, problem in sorted(self.messages.items())]
        first = next(iter(sorted(self.messages)), None)
        super().__init__(
            f"invalid {kind} event: " + "; ".join(parts),
            file=file,
            row=row,
            field=first if len(self.messages) == 1 else None,
        )

    def located(
        self, *, file: str | None = None, row: int | str | None = None
    ) -> EventValidationError:
        return EventValidationError(
            self.messages,
            kind=self.kind,
            file=file if file is not None else self.file,
            row=row if row is not None else self.row,
        )


class RulesetError(StridewiseError):
    """A rule pack or clinic profile that cannot be loaded: names file, line and reason."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = message
        loc = file or "<ruleset>"
        if line is not None:
            loc += f":{line}"
        super().__init__(f"{loc}: {message}")


class EngineError(StridewiseError):
    """The rules backend failed during an evaluation (an action raised, or the core refused)."""


class IncompleteEvaluation(EngineError):
    """A pack failed during the evaluation: the cards are not the whole advice.

    ``evaluation`` holds what did come out (every other pack's cards, and any red flag that
    fired), so an app can still show it, marked incomplete, with ``evaluation.failures``.
    """

    def __init__(self, message: str, evaluation: Any) -> None:
        super().__init__(message)
        self.evaluation = evaluation


def _flatten(problem: Any) -> str:
    if isinstance(problem, Mapping):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in problem.items())
    if isinstance(problem, list | tuple):
        return " ".join(_flatten(p) for p in problem)
    return str(problem)
