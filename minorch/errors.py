"""The exceptions minorch raises for things a user can fix.

Every user-facing error carries *where* (file and line when known) and a *hint*.
`str(err)` is the one line the CLI prints: ``dags/etl.toml:14: task 'load' depends
on 'transfrom', which does not exist (did you mean 'transform'?)``.
"""

from __future__ import annotations

from collections.abc import Iterable

_ONE_LINE = {code: f"\\x{code:02x}" for code in (*range(32), 127)} | {9: "\\t", 10: "\\n", 13: "\\r"}


class MinorchError(Exception):
    """Base class. `exit_code` is what the CLI exits with when this is uncaught."""

    exit_code = 2

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.hint = hint
        self.more: list[MinorchError] = []  # further errors found in the same place (a DAG's other faults)

    def every(self) -> list[MinorchError]:
        """This error and those found with it."""
        return [self, *self.more]

    @staticmethod
    def combined(found: list[MinorchError]) -> MinorchError:
        """One error to raise for the (non-empty) `found` and those each carries, in file order:
        the first, carrying the others."""
        flat = sorted((e for err in found for e in err.every()), key=lambda e: e.line or 0)
        for err in flat:
            err.more = []
        flat[0].more = flat[1:]
        return flat[0]

    @property
    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text.translate(_ONE_LINE)  # a value quoted in the message may hold a newline

    def at(self, file: str | None, line: int | None = None) -> MinorchError:
        """Fill in the location if it is not known yet; returns self for `raise e.at(...)`."""
        if self.file is None:
            self.file = file
        if self.line is None:
            self.line = line
        return self


class ConfigError(MinorchError):
    """minorch.toml or a command-line value is wrong."""


class DagError(MinorchError):
    """A DAG definition is wrong: unknown option, cycle, unknown upstream, bad value."""


class ScheduleError(DagError):
    """A schedule expression, timezone or date is wrong."""


class TemplateError(MinorchError):
    """A template refers to an unknown name or does not parse."""


class StoreError(MinorchError):
    """The state file cannot be used (newer schema, locked by another scheduler, ...)."""


class NotFound(MinorchError):
    """A DAG, run or task named on the command line does not exist."""


class Conflict(MinorchError):
    """Something changed between reading it and acting on it (another scheduler or command won)."""

    exit_code = 1


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, or None: ``did you mean 'transform'?``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


class TaskFailed(Exception):
    """Raised in a task: it fails at once, its log ending with this one-line message (no traceback)."""


class SkipTask(Exception):
    """Raise in a task to end this try as skipped (exit 99): ``raise SkipTask("no new files")``."""
