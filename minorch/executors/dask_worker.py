"""The worker side of the Dask executor: what `minorch worker` runs, and the functions Dask calls there.

`serve` runs a Dask worker in this process with minorch's plugin: the plugin names the folder
standing for this host (``--dir``) and marks it served (``worker.json``), so supervisors of
tries started by an earlier worker on it keep running. Dask runs `run_try` in one of the
worker's threads (``--slots`` of them): it claims the try, forks its supervisor
(`minorch.executors.supervisor`), and watches it to its end while it streams the try's log to
the scheduler host as events on the ``minorch-log`` topic. Its return value is the try's end
(exit facts, a Python task's result, the rest of the log). Watching again after a restart of
minorch or of the Dask scheduler is `run_try` with ``watch_only``: it never starts a try.

`cancel_try` and `forget_try` run through ``Client.run`` in the worker process itself, so they
work while every slot is busy.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import supervisor as S
from .proctree import started_at

if TYPE_CHECKING:
    from distributed import Worker

PLUGIN = "minorch"
LOG_TOPIC = "minorch-log"
START_TOPIC = "minorch-started"
LOG_INTERVAL = 0.1  # seconds between looks at a running try's log
LOG_CHUNK = 256 * 1024  # bytes per log event
RECONNECT_DELAY = 1.0  # seconds before a worker that lost its scheduler starts again


def _here() -> tuple[Path, S.Zygote, Worker]:
    """This worker's folder for tries and zygote (from minorch's plugin), and the worker itself."""
    from distributed import get_worker

    worker = get_worker()
    # A MinorchPlugin: defined in `serve`, where distributed is imported, so typed here by what it holds.
    plugin: Any = worker.plugins.get(PLUGIN)
    if plugin is None:
        raise RuntimeError("this Dask worker was not started by `minorch worker` (no minorch plugin)")
    return plugin.root, plugin.zygote, worker


def run_try(payload: dict) -> dict:
    """Run (or, for a second delivery or ``watch_only``, watch) one try; returns its end:
    ``{"exit": {...}, "result": text or None, "log": [offset, bytes, restart], "host": name}``,
    ``{"missing": True}`` when a watched try never reached this folder, or ``{"refused": why}`` when
    this host's copy of the try's code file differs from the scheduler host's (nothing runs)."""
    root, zygote, worker = _here()
    attempt_id = payload["attempt_id"]
    folder = S.folder_of(root, attempt_id)
    if payload.get("watch_only"):
        if not folder.exists():
            return {"missing": True, "host": worker.name}
    elif (refused := _other_code(payload.get("code"), worker.name)) is not None and not folder.exists():
        return {"refused": refused, "host": worker.name}
    elif not folder.exists() and _scheduler(worker, "event_is_set", attempt_id):
        # Started on another worker, which died holding this task's result: Dask computes a lost result
        # again, elsewhere. Never a second start; the scheduler host watches the try where it runs.
        return {"elsewhere": True, "host": worker.name}
    elif (claimed := S.claim(root, attempt_id)) is not None:
        try:
            _scheduler(worker, "event_set", attempt_id)
        except Exception as err:  # noqa: BLE001 - the Dask scheduler went away: unmarked, it is not started
            lost = f"{worker.name} could not tell the Dask scheduler it starts it ({err})"
            _fence(claimed, f"lost: {lost}")
            return {"exit": None, "lost": lost, "host": worker.name}
        _prepare(claimed, payload)
        return _watch(folder, attempt_id, worker, payload["grace"], zygote.spawn(claimed))
    return _watch(folder, attempt_id, worker, payload["grace"])


def _scheduler(worker, handler: str, attempt_id: str):
    """Call the Dask scheduler's `handler` of its events extension for the try's "started" mark, a flag
    the Dask scheduler keeps until the try is forgotten, from a task's thread."""
    from distributed.utils import sync

    return sync(worker.loop, getattr(worker.scheduler, handler), name=f"{START_TOPIC}-{attempt_id}")


def file_digest(path: str) -> str | None:
    """The SHA-256 of a file's bytes (hex), None when it cannot be read."""
    import hashlib

    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _other_code(code: dict | None, host: str) -> str | None:
    """Why this host must not run a try whose code file (`code`: path and digest on the scheduler host)
    is missing here or differs; None when it is the same (or the try names none)."""
    if not code:
        return None
    here = file_digest(code["path"])
    if here == code["sha256"]:
        return None
    found = "is missing" if here is None else f"differs (sha256 {here[:12]} here, {code['sha256'][:12]} there)"
    return (
        f"refused on {host}: its copy of {code['path']} {found} from the scheduler host's; deploy the same "
        "project folder to every worker host"
    )


def _prepare(folder: Path, payload: dict) -> None:
    """Write the try's launch (and a Python task's spec) with this host's paths filled in."""
    paths = {"{python}": sys.executable, "{spec}": str(folder / "spec.json"), "{result}": str(folder / "result.json")}
    if payload.get("spec") is not None:
        spec = payload["spec"].replace('"{result}"', '"' + paths["{result}"] + '"')
        (folder / "spec.json").write_text(spec)
    env = {**os.environ, **payload["env"], "MINORCH_STATUS_FILE": str(folder / "status")}
    for key in payload.get("unset", ()):
        env.pop(key, None)
    S.write_json(
        folder / "launch.json",
        {
            "argv": [paths.get(arg, arg) for arg in payload["argv"]],
            "env": env,
            "cwd": payload["cwd"],
            "timeout": payload["timeout"],
            "grace": payload["grace"],
            "log_cap": payload["log_cap"],
            "lost_after": payload["lost_after"],
            "secrets": payload.get("secrets"),
        },
    )


def _watch(folder: Path, attempt_id: str, worker, grace: float, started: int = 0) -> dict:
    """Stream the log until ``exit.json`` appears; then return the end. `started`: the pid of the
    supervisor this worker just forked (watched at once, before it wrote its own pid file)."""
    offset = 0
    told = False
    with selectors.DefaultSelector() as selector:
        pidfd = None
        if started:
            with contextlib.suppress(OSError):
                pidfd = os.pidfd_open(started)
                selector.register(pidfd, selectors.EVENT_READ)
        while not (folder / "exit.json").exists():
            # One reading decides: read again, a pid file written meanwhile by a supervisor that has just
            # started the try would name a supervisor that runs, and be taken for one that died.
            named = S.read_json(folder / "supervisor.json")
            pid = S.running_supervisor(named)
            if pid is None:
                if (folder / "exit.json").exists():
                    break
                if named is not None or not _starting(folder, started):
                    S.kill_orphaned_try(folder, grace)  # its supervisor was killed: nothing else can stop it
                    return {"exit": None, "lost": _died(folder, worker.name), "host": worker.name}
            elif pidfd is None:
                try:
                    pidfd = os.pidfd_open(pid)
                    selector.register(pidfd, selectors.EVENT_READ)
                except (OSError, AttributeError):
                    pidfd = -1
            if not told and named is not None and pid is not None:
                told = True
                worker.log_event(
                    START_TOPIC,
                    {
                        "id": attempt_id,
                        "host": worker.name,
                        "address": worker.address,
                        "pid": named.get("child"),
                        "ct": named.get("child_create_time"),
                    },
                )
            offset = _stream(folder / "log", offset, attempt_id, worker)
            selector.select(LOG_INTERVAL)
        if pidfd is not None and pidfd >= 0:
            selector.unregister(pidfd)
            os.close(pidfd)
    end = S.read_json(folder / "exit.json")
    result = folder / "result.json"
    tail = _read_from(folder / "log", offset)
    restart = not tail and (folder / "log").exists() and (folder / "log").stat().st_size < offset
    if restart:  # cut back under its cap after the last event: the whole (short) log again
        offset, tail = 0, _read_from(folder / "log", 0)
    return {
        "exit": end,
        "result": result.read_text() if end and end.get("returncode") == 0 and result.exists() else None,
        "log": [offset, tail, restart],
        "host": worker.name,
        "address": worker.address,
    }


def _died(folder: Path, host: str) -> str:
    """Why a try is lost whose supervisor ended without writing its exit: its last words, when it left any."""
    try:
        last = (folder / "supervisor.err").read_text(errors="replace").strip().splitlines()[-1:]
    except OSError:
        last = []
    said = f" ({last[0].strip()}; more in {folder / 'supervisor.err'})" if last else ""
    return f"its supervisor on {host} died{said}"


def _starting(folder: Path, started: int) -> bool:
    """A claimed try whose supervisor has not written its pid file yet (a few ms; seconds on a busy host):
    the supervisor this worker forked (`started`) still runs, or, watched by a later worker, the folder
    changed less than a minute ago."""
    if started:
        return started_at(started) is not None
    import time

    return time.time() - folder.stat().st_mtime < 60.0


def _stream(path: Path, offset: int, attempt_id: str, worker) -> int:
    """Send what the log gained since `offset`; a log cut back under its cap is sent again from 0."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return offset
    restart = size < offset  # cut back under its cap: send it again from the start
    if restart:
        offset = 0
    while size > offset or restart:
        data = _read_from(path, offset, LOG_CHUNK)
        if not data and not restart:
            break
        worker.log_event(LOG_TOPIC, {"id": attempt_id, "at": offset, "data": data, "restart": restart})
        offset += len(data)
        restart = False
    return offset


def _read_from(path: Path, offset: int, count: int = -1) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(count)
    except OSError:
        return b""


async def cancel_try(attempt_id: str, reason: str, dask_worker=None) -> bool:
    """Stop a try on this worker (its supervisor kills the tree). Run through ``Client.run``."""
    root = dask_worker.plugins[PLUGIN].root
    folder = S.folder_of(root, attempt_id)
    return folder.exists() and S.cancel(folder, reason)


async def forget_try(attempt_ids: list[str], dask_worker=None) -> int:
    """Delete the folders of tries whose end the scheduler recorded, and their "started" marks on the Dask
    scheduler. Run through ``Client.run``."""
    import asyncio
    import shutil

    root = dask_worker.plugins[PLUGIN].root
    count = 0
    for attempt_id in attempt_ids:
        folder = S.folder_of(root, attempt_id)
        if (folder / "exit.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            count += 1
    await asyncio.gather(*(dask_worker.scheduler.event_clear(name=f"{START_TOPIC}-{i}") for i in attempt_ids))
    return count


async def find_or_fence(attempt_ids: list[str], reason: str, dask_worker=None) -> list[str]:
    """For a restarted scheduler that never heard where these tries went: those of `attempt_ids` this host
    claimed (they run or ran here: to be watched again), and a fence for each of the others, a claimed
    folder with an ``exit.json`` saying `reason`, so that a late delivery of that try finds it claimed and
    never starts it (the scheduler runs such a try again under a new attempt id). Run through ``Client.run``."""
    root = dask_worker.plugins[PLUGIN].root
    here = []
    for attempt_id in attempt_ids:
        folder = S.claim(root, attempt_id)
        if folder is None:
            if not (S.folder_of(root, attempt_id) / "fence").exists():  # a real claim, not an earlier fence
                here.append(attempt_id)
            continue
        (folder / "fence").touch()
        _fence(folder, reason)
    return here


def _fence(folder: Path, reason: str) -> None:
    """The end of a claimed try that never started here: a later delivery finds it claimed and ended."""
    fence = {"attempt_id": folder.name, "pid": 0, "returncode": None, "signal": None, "duration": 0.0}
    fence.update(timed_out=False, cancelled=True, peak_rss=None, cpu_time=None, reason=reason, lost=True)
    S.write_json(folder / "exit.json", fence)


def tries_here(dask_worker=None) -> list[str]:
    """Attempt ids with a folder on this worker's host. Run through ``Client.run``."""
    root = dask_worker.plugins[PLUGIN].root / "tries"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


async def serve(address: str, *, root: Path, slots: int, queues: list[str], name: str, security=None) -> None:
    """Run a Dask worker for minorch until SIGINT/SIGTERM (running tries go on under their
    supervisors; a worker started again on the same folder reports them)."""
    import asyncio
    import signal

    from distributed import Worker, WorkerPlugin

    class MinorchPlugin(WorkerPlugin):
        """The folder for this host's tries, marked served while this worker runs, and the
        zygote that forks their supervisors."""

        name = PLUGIN

        def __init__(self, root: Path, zygote: S.Zygote) -> None:
            self.root = root
            self.zygote = zygote

        def setup(self, worker) -> None:
            S.mark_worker(self.root)

    resources = {f"queue-{q}": float(slots) for q in queues}
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    zygote = S.Zygote()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    current: list = []

    def on_signal() -> None:
        stop.set()
        for worker in current:
            asyncio.ensure_future(worker.close(reason="minorch worker stopped"))

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    # A Dask worker closes when it loses its scheduler; this process then starts a new one with
    # the same name and folder, which waits for the scheduler to be back. Tries run on meanwhile.
    while not stop.is_set():
        worker = Worker(
            address,
            nthreads=slots,
            name=name,
            resources=resources or None,
            local_directory=str(root / "dask"),
            plugins=(MinorchPlugin(root, zygote),),
            security=security,
        )
        current[:] = [worker]
        await worker
        print(f"minorch worker {name}: {slots} slots at {worker.address}, tries in {root}", flush=True)
        await worker.finished()
        if not stop.is_set():
            print(f"minorch worker {name}: lost the Dask scheduler; connecting again", flush=True)
            await asyncio.sleep(RECONNECT_DELAY)
