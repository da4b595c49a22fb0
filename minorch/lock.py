"""One scheduler per state file: an `fcntl.flock` on `<state_dir>/scheduler.lock`.

The kernel drops the lock when the holder dies, so a stale lock file never blocks a
restart. The file holds "pid since" for the message a second scheduler prints.
Task processes are started with close_fds, so they never inherit the lock.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path

from .errors import StoreError


class SchedulerLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "scheduler.lock"
        self.fd: int | None = None

    def acquire(self, what: str = "scheduler") -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"another minorch scheduler is using {self.path.parent} ({holder})",
                             hint="stop it first, or use `minorch trigger DAG` to queue a run for it") from None
        os.ftruncate(fd, 0)
        since = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
        os.write(fd, f"pid {os.getpid()}, {what} since {since}\n".encode())
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
