"""One scheduler per state file: an `fcntl.flock` on `<state_dir>/scheduler.lock`.

The kernel drops the lock when the holder dies (exit, crash, kill -9), so a stale lock
file never blocks a restart. The file holds one line, "pid 1234, minorch up since
2024-05-01T10:00:00+02:00, version 0.1.0", for the message a second scheduler prints
and for `minorch status`.

Task processes never inherit the lock: its descriptor is O_CLOEXEC and tasks are spawned
with close_fds (a lock inherited through a plain fork would outlive the scheduler).
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path

from .errors import StoreError


class SchedulerLock:
    """Holds the lock from `acquire` until `release` (or the process ends)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "scheduler.lock"
        self.fd: int | None = None

    def acquire(self, what: str = "scheduler") -> None:
        """Take the lock or raise StoreError (exit code 2) naming the holder's pid and start."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid unknown"
            os.close(fd)
            raise StoreError(
                f"another minorch scheduler is using {self.path.parent} ({holder})",
                hint="stop it first, or use `minorch trigger DAG` to queue a run for it",
            ) from None
        from . import __version__

        since = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
        line = f"pid {os.getpid()}, {what} since {since}, version {__version__}\n".encode()
        # Write first, then cut: a reader never sees an empty file, only the old or the new line.
        os.pwrite(fd, line, 0)
        os.ftruncate(fd, len(line))
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
