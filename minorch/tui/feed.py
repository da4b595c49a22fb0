"""The UI's reader: its own store connection, the DAG files, and what the screens want to see.

`Feed.poll()` runs in one worker thread. It is cheap when nothing changed: one
`PRAGMA data_version` (about 2 us) and, every `FILES_EVERY` seconds, a stat of the DAG
files and a probe of the scheduler lock. When the store or the files changed, or a screen
asked for something new, it rebuilds the models the open screens show (`model.py`); the
Gantt of a running run also each poll, as its bars grow with the clock. It also follows the
log of the watched try: bytes appended since the last look, or the whole tail after a truncation.

Thread safety: `watch_dag`, `watch_task`, `watch_picture`, `unwatch`, `wake` and `stop` are
called from the UI thread; they replace one immutable `_Want` under `_lock` and set `_event`.
Everything else belongs to the worker thread, which owns the `Store` (opened on its first poll,
in that thread); it replaces `registry` and `scheduler` whole, and the UI thread only reads them.
"""

from __future__ import annotations

import codecs
import os
import threading
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from ..config import Settings
from ..operations import scheduler_running
from ..registry import Registry, dag_files, load
from ..store import Store
from ..visible import visible
from . import model

FILES_EVERY = 2.0  # seconds between looks at DAG file mtimes
LOG_TAIL = 256 * 1024  # bytes of a log shown when it is first opened (its end)


@dataclass(frozen=True)
class LogChunk:
    """Text of the watched try's log: `reset` replaces what is shown, else it is appended."""

    path: str | None
    text: str
    reset: bool


@dataclass(frozen=True)
class Update:
    """What changed since the last poll; None fields did not change."""

    dags: model.DagList | None = None
    dag: model.DagDetail | None = None
    task: model.TaskDetail | None = None
    log: LogChunk | None = None
    gantt: model.Gantt | None = None
    durations: model.Durations | None = None


@dataclass(frozen=True)
class _Want:
    dag_id: str | None = None
    page: int = 0  # of the DAG's runs, 0: the newest
    per_page: int = model.GRID_RUNS
    task: tuple[int, str] | None = None  # (run pk, task id)
    attempt_id: str | None = None  # the try whose log shows; None: the latest try
    gantt: int | None = None  # the run pk whose Gantt shows
    durations: tuple[str, str | None] | None = None  # (dag id, task id or None for the runs): a duration chart


class Feed:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry  # replaced (never mutated) when DAG files change; read by the UI thread
        self.store: Store | None = None
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._want = _Want()
        self._shown: _Want | None = None
        self._stale = True
        self._version: int | None = None
        self._files_at = 0.0
        self._task: model.TaskDetail | None = None
        self._live = False  # the watched Gantt is of a running run
        self.stopped = False
        self.scheduler = False  # whether a scheduler holds the state folder's lock, as of the last file check
        self._log_path: str | None = None
        self._log_offset = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    # ------------------------------------------------------------ UI thread

    def watch_dag(self, dag_id: str | None, page: int = 0, per_page: int = model.GRID_RUNS) -> None:
        """Show `dag_id`'s runs, page `page` of `per_page` runs (see `model.DagDetail`)."""
        with self._lock:
            self._want = replace(self._want, dag_id=dag_id, page=page, per_page=per_page)
        self._event.set()

    def watch_task(self, task: tuple[int, str] | None, attempt_id: str | None = None) -> None:
        with self._lock:
            self._want = replace(self._want, task=task, attempt_id=attempt_id)
        self._event.set()

    def watch_picture(self, *, gantt: int | None = None, durations: tuple[str, str | None] | None = None) -> None:
        """Show the Gantt of run `gantt`, or the duration chart of `durations` (dag id, task id or None)."""
        with self._lock:
            self._want = replace(self._want, gantt=gantt, durations=durations)
        self._event.set()

    def unwatch(
        self,
        *,
        dag_id: str | None = None,
        task: tuple[int, str] | None = None,
        gantt: int | None = None,
        durations: tuple[str, str | None] | None = None,
    ) -> None:
        """Stop watching `dag_id` / `task` / a picture if still watched: a closing screen must not undo what the
        screen opened after it asked for (its unmount can come after the new screen's mount)."""
        with self._lock:
            if gantt is not None and self._want.gantt == gantt:
                self._want = replace(self._want, gantt=None)
            if durations is not None and self._want.durations == durations:
                self._want = replace(self._want, durations=None)
            if dag_id is not None and self._want.dag_id == dag_id:
                self._want = replace(self._want, dag_id=None)
            if task is not None and self._want.task == task:
                self._want = replace(self._want, task=None, attempt_id=None)

    def wake(self) -> None:
        """Look again at once (after an action of this UI, say) instead of at the next tick."""
        with self._lock:
            self._stale = True
        self._event.set()

    def stop(self) -> None:
        """End the worker's loop: `stopped` turns true and `wait` returns at once from now on."""
        self.stopped = True
        self._event.set()

    # ------------------------------------------------------------ worker thread

    def wait(self, seconds: float) -> None:
        """Sleep until `seconds` pass or the UI asks for something."""
        self._event.wait(seconds)
        if not self.stopped:
            self._event.clear()

    def poll(self, now: datetime, mono: float) -> Update | None:
        """One look; `now` dates next fires, `mono` (monotonic seconds) paces the file checks."""
        if self.store is None:
            self.store = Store(self.settings.db_path)
        files_changed = self._reload_files(mono)
        version = self.store.data_version()
        with self._lock:
            want, shown, stale = self._want, self._shown, self._stale
            self._shown, self._stale = want, False
        update = Update()
        if stale or files_changed or version != self._version or want != shown:
            self._version = version
            update = self.build(want, now)
            self._task = update.task
            self._live = update.gantt is not None and update.gantt.live
        elif self._live and want.gantt is not None:  # a running run's bars grow with the clock
            update = Update(gantt=model.gantt(*self._sources(), want.gantt, now))
        chunk = self._follow_log(
            want, reset=shown is None or want.task != shown.task or want.attempt_id != shown.attempt_id
        )
        if chunk is not None:
            update = replace(update, log=chunk)
        return None if update == Update() else update

    def build(self, want: _Want, now: datetime) -> Update:
        """Every model the open screens show (the refresh `bench/bench_tui.py` times)."""
        store, registry = self._sources()
        tz, running = self.settings.timezone, self.scheduler
        dags = model.dag_list(store, registry, now, default_tz=tz, scheduler=running)
        dag = (
            model.dag_detail(
                store,
                registry,
                want.dag_id,
                now,
                default_tz=tz,
                runs=want.per_page,
                page=want.page,
                scheduler=running,
            )
            if want.dag_id
            else None
        )
        task = model.task_detail(store, registry, *want.task, default_tz=tz) if want.task else None
        gantt = model.gantt(store, registry, want.gantt, now) if want.gantt is not None else None
        durations = model.durations(store, registry, *want.durations, now, default_tz=tz) if want.durations else None
        return Update(dags=dags, dag=dag, task=task, gantt=gantt, durations=durations)

    def loaded(self) -> Registry:
        """The DAGs as last loaded (loaded now if the worker has not yet)."""
        if self.registry is None:
            self.registry = load(self.settings)
        return self.registry

    def _sources(self) -> tuple[Store, Registry]:
        """The store and the DAGs as last loaded (`poll` opens and loads them before it builds anything)."""
        if self.store is None or self.registry is None:
            raise RuntimeError("the feed builds only after poll opened the store and loaded the DAG files")
        return self.store, self.registry

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def _reload_files(self, mono: float) -> bool:
        """Reload the DAG files if one changed; also notes whether a scheduler runs. True if either changed."""
        if self.registry is None:
            self.registry = load(self.settings)
            self._files_at = mono + FILES_EVERY
            self.scheduler = scheduler_running(self.settings)
            return True
        if mono < self._files_at:
            return False
        self._files_at = mono + FILES_EVERY
        running = scheduler_running(self.settings)
        if running != self.scheduler:
            self.scheduler = running
            return True
        tomls, pys = dag_files(self.settings)
        current = {p: _mtime(p) for p in [*self.settings.config_files, *tomls, *pys]}
        if current == self.registry.files:
            return False
        self.registry = load(self.settings)
        return True

    def _follow_log(self, want: _Want, *, reset: bool) -> LogChunk | None:
        task = self._task if want.task else None
        attempt = task.attempt(want.attempt_id) if task is not None else None
        path = attempt.log_path if attempt is not None else None
        if path != self._log_path:
            self._log_path, reset = path, True
        if path is None:
            return LogChunk(None, "", True) if reset else None
        try:
            size = os.stat(path).st_size
        except OSError:
            return LogChunk(path, "", True) if reset else None
        if size < self._log_offset:  # truncated in place to its size cap
            reset = True
        if reset:
            self._log_offset = max(0, size - LOG_TAIL)
            self._decoder.reset()
        if size == self._log_offset and not reset:
            return None
        with open(path, "rb") as stream:
            stream.seek(self._log_offset)
            data = stream.read(size - self._log_offset)
        self._log_offset += len(data)
        # Escape sequences in task output are shown as text (\x1b[31m), never sent to the terminal.
        return LogChunk(path, visible(self._decoder.decode(data).replace("\r\n", "\n")), reset)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
