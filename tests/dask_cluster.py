"""A real Dask cluster on 127.0.0.1 for tests: a `dask scheduler` and `minorch worker` processes,
each worker with its own folder standing in for a host."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DASK = str(Path(sys.executable).parent / "dask")
ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class DaskCluster:
    """`start()` a scheduler and `workers` workers named host0, host1, ... (folders under `base`)."""

    def __init__(self, base: Path, workers: int = 2, slots: int = 4, queues: dict[str, list[str]] | None = None):
        self.base = base
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.names = [f"host{i}" for i in range(workers)]
        self.slots = slots
        self.queues = queues or {}
        self.scheduler: subprocess.Popen | None = None
        self.workers: dict[str, subprocess.Popen] = {}

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
        env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"
        return env

    def folder(self, name: str) -> Path:
        return self.base / name

    def start(self) -> DaskCluster:
        self.start_scheduler()
        for name in self.names:
            self.start_worker(name)
        self.wait_workers(len(self.names))
        return self

    def start_scheduler(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard", "--no-show"],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=open(self.base / "scheduler.err", "ab"),  # noqa: SIM115 - the child holds it
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("the Dask scheduler did not start")

    def start_worker(self, name: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        queues = [arg for q in self.queues.get(name, []) for arg in ("--queue", q)]
        self.workers[name] = subprocess.Popen(
            [sys.executable, "-m", "minorch", "worker", self.address, "--dir", str(self.folder(name)), "--name", name]
            + ["--slots", str(self.slots), *queues],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=open(self.base / f"{name}.err", "ab"),  # noqa: SIM115 - the child holds it
            start_new_session=True,
            cwd=self.base,
        )

    def wait_workers(self, count: int, timeout: float = 60.0) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(count, timeout=timeout)

    def kill_worker(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(10)

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        self.workers.clear()
