"""Who may drive runs in a state folder: `fcntl.flock`s, released by the kernel when the holder dies.

- `minorch up` drives every run: it holds `<state_dir>/scheduler.lock` exclusively.
- A one-shot `minorch run` / `backfill --wait` drives only the runs it made: it holds
  `scheduler.lock` shared (so no `minorch up` starts meanwhile, but other one-shot runs may) and
  `<state_dir>/runs/<dag_id>.lock` exclusively (so no two of them drive the same DAG).

The kernel drops a lock when its holder dies (exit, crash, kill -9), so a stale lock file never
blocks a restart. The exclusive holder of a file writes one line into it, "pid 1234, minorch up
since 2024-05-01T10:00:00+02:00, version 0.1.0", for the message a refused process prints and
for `minorch status`.

Task processes never inherit a lock: the descriptors are O_CLOEXEC and tasks are spawned with
close_fds (a lock inherited through a plain fork would outlive the scheduler).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from .errors import StoreError


def holder_line(what: str) -> bytes:
    from . import __version__

    since = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    return f"pid {os.getpid()}, {what} since {since}, version {__version__}\n".encode()


def _stamp(fd: int, what: str) -> None:
    line = holder_line(what)
    # Write first, then cut: a reader never sees an empty file, only the old or the new line.
    os.pwrite(fd, line, 0)
    os.ftruncate(fd, len(line))


def _read(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace").strip() or "pid unknown"


def run_lock_dir(state_dir: Path) -> Path:
    return state_dir / "runs"


def held_run_locks(state_dir: Path) -> list[tuple[str, str]]:
    """(dag_id, holder line) of each DAG a one-shot run is driving now (probed, not taken)."""
    found = []
    folder = run_lock_dir(state_dir)
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            found.append((path.name[: -len(".lock")], _read(fd)))
        finally:
            os.close(fd)  # closing drops a lock we got
    return found


class SchedulerLock:
    """Holds the lock from `acquire` (or `acquire_runs`) until `release` (or the process ends)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "scheduler.lock"
        self.fd: int | None = None
        self.run_fds: list[int] = []

    def _open(self, path: Path) -> int:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)

    def acquire(self, what: str = "scheduler") -> None:
        """Take the state folder for every run or raise StoreError (exit code 2) naming the holder."""
        fd = self._open(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            runs = held_run_locks(self.path.parent)
            holder = "; ".join(f"{line} on DAG {dag_id}" for dag_id, line in runs) if runs else _read(fd)
            os.close(fd)
            raise StoreError(
                f"another minorch scheduler is using {self.path.parent} ({holder})",
                hint="stop it first, or use `minorch trigger DAG` to queue a run for it",
            ) from None
        _stamp(fd, what)
        self.fd = fd

    def acquire_runs(self, dag_ids: Iterable[str], what: str = "minorch run") -> None:
        """Take the state folder for the runs of `dag_ids` only: beside other one-shot runs of other
        DAGs, never beside `minorch up` or another run of the same DAG (StoreError naming the holder)."""
        fd = self._open(self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise StoreError(
                f"another minorch scheduler is using {self.path.parent} ({holder})",
                hint="stop it first, or use `minorch trigger DAG` to queue a run for it",
            ) from None
        self.fd = fd
        for dag_id in sorted(set(dag_ids)):
            run_fd = self._open(run_lock_dir(self.path.parent) / f"{dag_id}.lock")
            try:
                fcntl.flock(run_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(run_fd)
                os.close(run_fd)
                self.release()
                raise StoreError(
                    f"another minorch run is driving DAG {dag_id} in {self.path.parent} ({holder})",
                    hint="wait for it to end; runs of other DAGs may go meanwhile",
                ) from None
            _stamp(run_fd, what)
            self.run_fds.append(run_fd)

    def release(self) -> None:
        for fd in self.run_fds:
            os.close(fd)
        self.run_fds = []
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
