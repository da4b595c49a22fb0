"""`minorch up --dask-local N`: a Dask cluster on this host, for trying the Dask executor.

One `dask scheduler` on 127.0.0.1 (a free port) and N `minorch worker` processes named
``local0``, ``local1``, ... with their folders under ``<state_dir>/dask-local/`` (the same
folders at each start, so a worker started again reports the tries its predecessor left
running). `up` starts the cluster before the scheduler loop and stops it after: workers first
(SIGTERM; running tries go on under their supervisors, as with any worker stop), then the Dask
scheduler. Each child gets SIGTERM from the kernel should `up` die without stopping them
(``PR_SET_PDEATHSIG``; a child whose `up` died before it asked for that does not start), so a killed
`up` leaves no cluster behind. Their output goes to
``<state_dir>/dask-local/*.log``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ConfigError

PR_SET_PDEATHSIG = 1
STOP_WAIT = 10.0  # seconds a child gets to stop after SIGTERM before SIGKILL


def _die_with(parent: int) -> None:  # runs in the child between fork and exec
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # `up` died before the call, so no signal will come: do not start
        os._exit(1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalCluster:
    """Start with `start()` (returns the address), stop with `stop()`; `workers` minorch workers."""

    def __init__(self, folder: Path, workers: int, *, cwd: Path, slots: int = 4, timeout: float = 60.0) -> None:
        self.folder, self.count, self.cwd, self.slots, self.timeout = folder, workers, cwd, slots, timeout
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        self.procs: list[subprocess.Popen] = []  # the Dask scheduler first, then the workers

    def _spawn(self, argv: list[str], log: str) -> subprocess.Popen:
        env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
        with open(self.folder / log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a ^C meant for the UI does not reach them; stop() does
                preexec_fn=functools.partial(_die_with, os.getpid()),  # noqa: PLW1509 - only prctl and getppid
            )
        self.procs.append(proc)
        return proc

    def start(self) -> str:
        """Start the Dask scheduler and the workers; wait until all workers joined. ConfigError when not."""
        from .dask import import_distributed

        distributed = import_distributed()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        port = self.address.rsplit(":", 1)[1]
        self._spawn(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port]
            + ["--no-dashboard", "--no-show"],
            "scheduler.log",
        )
        for index in range(self.count):
            name = f"local{index}"
            self._spawn(
                [sys.executable, "-m", "minorch", "worker", self.address, "--name", name]
                + ["--dir", str(self.folder / name), "--slots", str(self.slots)],
                f"{name}.log",
            )
        try:
            with distributed.Client(self.address, timeout=self.timeout, set_as_default=False) as client:
                client.wait_for_workers(self.count, timeout=self.timeout)
        except (OSError, TimeoutError) as err:
            self.stop()
            raise ConfigError(
                f"--dask-local {self.count}: the local Dask cluster did not start within {self.timeout:g}s ({err})",
                hint=f"see the logs in {self.folder}",
            ) from None
        return self.address

    def stop(self) -> None:
        """SIGTERM the workers, then the Dask scheduler; SIGKILL what is still there after STOP_WAIT."""
        for group in (self.procs[1:], self.procs[:1]):
            for proc in group:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + STOP_WAIT
            for proc in group:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
        self.procs.clear()
