"""When the state file cannot be written: which kind of trouble it is, when to try again, what to say.

The scheduler must not end because SQLite refused a write: its running tries would be orphaned.
`Outage` sorts the error. A damaged file (SQLite's CORRUPT or NOTADB) is the only fatal kind: it
raises the one-line `StoreError` that says to move the file away. Every other kind — locked by
another process past the busy timeout, disk full, an I/O error, no permission — is an outage:
the scheduler starts no tries, keeps supervising the running ones, keeps their ends in memory,
and tries the write again after a backoff (0.1 s, doubling to 5 s). It logs one line when an
outage starts, one a minute while it lasts, and one when it is over.

Thread safety: none; the scheduler's thread owns it.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

from .store import trouble_kind, unusable

log = logging.getLogger("minorch.scheduler")

RETRY_FIRST = 0.1  # seconds before the first retry
RETRY_MAX = 5.0  # seconds: the longest wait between retries
LOG_EVERY = 60.0  # seconds between repeated log lines of one outage

_OS_KINDS = {
    errno.ENOSPC: "full",
    errno.EDQUOT: "full",
    errno.EIO: "io",
    errno.EROFS: "readonly",
    errno.EACCES: "readonly",
    errno.EPERM: "readonly",
}
_WHAT = {
    "busy": "it is locked by another process (a long write, e.g. a big backfill or a backup)",
    "full": "the disk is full",
    "io": "the disk reported an I/O error",
    "readonly": "it may not be written (permissions, or a read-only file system)",
    "other": "SQLite refused the write",
}


class Outage:
    """The state file's write trouble, if any. `due(now)` says whether to try the store now."""

    def __init__(self, path: Path, monotonic: Callable[[], float]) -> None:
        self.path = path
        self._now = monotonic
        self.kind: str | None = None
        self.since = 0.0
        self.retry_at = 0.0
        self._backoff = RETRY_FIRST
        self._logged_at = 0.0

    @property
    def active(self) -> bool:
        return self.kind is not None

    def due(self) -> bool:
        return self.kind is None or self._now() >= self.retry_at

    def failed(self, err: Exception, *, running: int, waiting: int) -> None:
        """Note a failed look at the store. Raises `StoreError` for a damaged file, and `err` itself
        when it is not about the state file (an OSError other than no space, I/O or permission)."""
        if isinstance(err, sqlite3.Error):
            kind = trouble_kind(err)
            if kind == "corrupt" and isinstance(err, sqlite3.DatabaseError):  # SQLite's damaged-file codes
                raise unusable(self.path, err) from None
        elif isinstance(err, OSError) and err.errno in _OS_KINDS:
            kind = _OS_KINDS[err.errno]
        else:
            raise err
        now = self._now()
        if self.kind is None:
            self.since, self._backoff, self._logged_at = now, RETRY_FIRST, now - LOG_EVERY
        self.kind = kind
        self.retry_at = now + self._backoff
        self._backoff = min(self._backoff * 2, RETRY_MAX)
        if now - self._logged_at >= LOG_EVERY:
            self._logged_at = now
            log.error(
                "cannot write the state file %s for %.0fs: %s (%s); starting no tries until it can be written, "
                "retrying every %gs at most; %d running tries are still supervised and %d try ends wait to be "
                "recorded, nothing is lost",
                self.path,
                now - self.since,
                _WHAT[kind],
                err,
                RETRY_MAX,
                running,
                waiting,
            )

    def over(self) -> None:
        """A look at the store succeeded: the outage, if any, is over."""
        if self.kind is not None:
            log.warning(
                "the state file %s can be written again after %.1fs: starting tries again",
                self.path,
                self._now() - self.since,
            )
            self.kind = None
