"""The worker-side supervisor: one detached process per remote try that runs it and keeps its promises.

A try is claimed by creating its folder ``<root>/tries/<attempt_id>`` (an exclusive mkdir: a
second delivery of the same try finds it and never starts it again). The supervisor is forked
twice and calls setsid, so it outlives the Dask worker that started it and the Dask scheduler;
it runs the try with a `LocalExecutor` of its own (its session, its log file capped in place,
the timeout that kills the whole tree including setsid grandchildren) and writes the end as
``exit.json`` (atomically) for whoever watches: the worker that started it, or one started
later on the same folder.

Files of a try folder: ``launch.json`` (what to run), ``spec.json`` (a Python task's spec),
``log``, ``status`` (the exit code the wrapper writes), ``result.json``, ``supervisor.json``
(pid and start time of the supervisor and of the try), ``cancel.json`` (the reason, written
before the supervisor gets SIGTERM), ``exit.json``.

Lost workers: ``<root>/worker.json`` names the worker process serving the folder. When none
has run for `lost_after` seconds (from ``launch.json``), the supervisor kills the try and its
``exit.json`` says ``"lost": true``: nothing can report it any more, and the scheduler tries it
again without counting it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from .base import Exit, Launch
from .local import LocalExecutor
from .proctree import kill_tree, started_at

WORKER_CHECK = 0.5  # seconds between looks at whether a worker still serves the folder


def folder_of(root: Path, attempt_id: str) -> Path:
    if not attempt_id or "/" in attempt_id or attempt_id.startswith("."):
        raise ValueError(f"not an attempt id: {attempt_id!r}")
    return root / "tries" / attempt_id


def claim(root: Path, attempt_id: str) -> Path | None:
    """The try's new folder, or None when it was claimed before (a second delivery)."""
    folder = folder_of(root, attempt_id)
    folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        return None
    return folder


def write_json(path: Path, value: dict) -> None:
    """Write `value` so that a reader sees all of it or nothing (write, fsync-free rename)."""
    part = path.with_name(path.name + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle)
    os.replace(part, path)


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def mark_worker(root: Path) -> None:
    """Say that this process serves `root` (a worker at its start)."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_json(root / "worker.json", {"pid": os.getpid(), "start": started_at(os.getpid())})


def worker_alive(root: Path) -> bool:
    return _still_runs(read_json(root / "worker.json"))


def _still_runs(named: dict | None) -> bool:
    """Whether the process a worker or supervisor file names (``pid``, and ``start`` from `started_at`)
    still runs: the same pid started at the same moment."""
    try:
        return named is not None and started_at(named["pid"]) == named["start"]
    except (KeyError, TypeError):
        return False


def start_detached(folder: Path) -> int:
    """Fork the supervisor of the claimed try in `folder` as a grandchild in a session of its
    own, and return its pid once it runs. It is reparented to init (or a subreaper) at once,
    so it does not end with this process."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked processes
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                _become_supervisor(folder, write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read()
    return int(said or 0)


class Zygote:
    """A small process that forks supervisors for a Dask worker: forking the worker itself (a big,
    multi-threaded process) costs tens of milliseconds; this one, started before Dask is
    imported, forks in a few. Requests go over its stdin, one folder per line; it answers each
    with the supervisor's pid. It ends when the worker does (its stdin closes); the supervisors
    it forked do not. Thread safety: `spawn` may be called from any thread (one lock)."""

    def __init__(self) -> None:
        import subprocess
        import threading

        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "minorch.executors.supervisor"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
        )
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the supervisor zygote was started without its stdin and stdout pipes")
        self._stdin, self._stdout = stdin, stdout

    def spawn(self, folder: Path) -> int:
        """The pid of a new supervisor for `folder`; without a working zygote, fork one from here."""
        with self._lock:
            if self._process.poll() is None:
                try:
                    self._stdin.write(f"{folder}\n".encode())
                    self._stdin.flush()
                    answer = self._stdout.readline()
                    if answer.strip():
                        return int(answer)
                except (OSError, ValueError):
                    pass
        return start_detached(folder)

    def close(self) -> None:
        self._stdin.close()
        self._process.wait()


def _serve_zygote() -> None:  # pragma: no cover - runs in the zygote process
    for line in sys.stdin.buffer:
        pid = start_detached(Path(line.decode().strip()))
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


def _become_supervisor(folder: Path, report_fd: int) -> None:  # pragma: no cover - a forked process
    code = 0
    try:
        null = os.open(os.devnull, os.O_RDWR)
        errors = os.open(folder / "supervisor.err", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        for fd, target in ((0, null), (1, null), (2, errors)):
            os.dup2(target, fd)
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, 65536)
        sys.stdout = sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115 - lives as long as the process
        os.write(report_fd, str(os.getpid()).encode())
        os.close(report_fd)
        supervise(folder)
    except BaseException:  # noqa: BLE001 - the last words of a detached process go to its folder
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def supervise(folder: Path) -> Exit:
    """Run the try described by ``folder/launch.json`` to its end and write ``exit.json``.
    SIGTERM cancels it (reason from ``folder/cancel.json``); a folder no worker served for
    `lost_after` seconds gets its try killed and an exit marked lost."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the wakeup fd carries it
    spec = json.loads((folder / "launch.json").read_text())
    launch = Launch(
        attempt_id=folder.name,
        argv=spec["argv"],
        env=spec["env"],
        cwd=spec["cwd"],
        log_path=folder / "log",
        timeout=spec["timeout"],
        grace=spec["grace"],
        log_cap=spec["log_cap"],
        status_path=folder / "status",
        secrets=None if spec.get("secrets") is None else tuple(spec["secrets"]),
    )
    lost_after, root = spec["lost_after"], folder.parent.parent
    executor = LocalExecutor(fork_server=False)
    executor.add_wakeup_fd(wake_r)
    running = executor.start(launch)
    write_json(
        folder / "supervisor.json",
        {
            "pid": os.getpid(),
            "start": started_at(os.getpid()),
            "child": running.pid,
            "child_create_time": running.create_time,  # for the scheduler host's records
            "child_start": started_at(running.pid),
        },
    )
    lost, orphaned_at, ending, done = False, None, False, None
    next_check = 0.0
    while done is None:
        if not ending and (asked := read_json(folder / "cancel.json")) is not None:
            ending = True
            executor.cancel(launch.attempt_id, asked.get("reason") or "cancelled")
        now = time.monotonic()
        if now >= next_check and not ending:
            next_check = now + WORKER_CHECK
            if worker_alive(root):
                orphaned_at = None
            elif orphaned_at is None:
                orphaned_at = now
            elif now - orphaned_at >= lost_after:
                lost = ending = True
                executor.cancel(launch.attempt_id, f"lost: no worker served {root} for {lost_after:g}s")
        done = next((e for e in executor.poll() if isinstance(e, Exit)), None)
        if done is None:
            executor.wait(max(0.0, next_check - time.monotonic()))
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
    write_json(folder / "exit.json", {**asdict(done), "lost": lost})
    executor.close()
    return done


def cancel(folder: Path, reason: str) -> bool:
    """Ask the supervisor of the try in `folder` to stop it (tree and all). False if no
    supervisor runs it (not started yet: it reads the cancel file when it starts; or ended)."""
    write_json(folder / "cancel.json", {"reason": reason})
    pid = supervisor_of(folder)
    if pid is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    return True


def supervisor_of(folder: Path) -> int | None:
    """The pid of the running supervisor of the try in `folder`, checked by pid and start time."""
    return running_supervisor(read_json(folder / "supervisor.json"))


def running_supervisor(named: dict | None) -> int | None:
    """The pid a ``supervisor.json`` as read (`named`; None: not written yet) names, if that process still runs."""
    return named["pid"] if named is not None and _still_runs(named) else None


def kill_orphaned_try(folder: Path, grace: float) -> None:
    """A supervisor died without writing an exit (killed -9): kill the try it ran, if it still runs."""
    named = read_json(folder / "supervisor.json")
    if named and named.get("child") and started_at(named["child"]) == named.get("child_start"):
        kill_tree(named["child"], grace)


if __name__ == "__main__":
    _serve_zygote()
