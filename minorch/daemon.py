"""`minorch up`: the scheduler loop until SIGTERM/SIGINT, headless or under the TUI.

Shutdown: stop creating runs and tries, give running tries `grace` seconds to finish,
then kill the rest and record them as failed tries (their retries, if any, run at the next
start). Exit code 0. Logs go to stdout as text or JSON lines.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from datetime import datetime, timezone

from .config import Settings
from .foreground import format_event
from .lock import SchedulerLock
from .registry import Registry
from .scheduler import Event, Scheduler
from .store import Store

log = logging.getLogger("minorch")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                 "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(log_format: str, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-5s %(message)s"))
    root = logging.getLogger("minorch")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def log_event(event: Event) -> None:
    fields = {"event": event.kind, "dag_id": event.dag_id, "run_id": event.run_id, "task_id": event.task_id,
              "state": event.state, "try_number": event.try_number}
    level = logging.ERROR if event.state in ("failed", "upstream_failed") else logging.INFO
    log.log(level, "%s", format_event(event).split("  ", 1)[1], extra={"fields": fields})


class Daemon:
    """The scheduler with its lock and store, runnable in the main thread or a background thread."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.lock = SchedulerLock(settings.state_dir)
        self.lock.acquire("minorch up")
        self.store = Store(settings.db_path)
        self.scheduler = Scheduler(settings, self.store, registry=registry, on_event=log_event)
        self._stop_deadline: float | None = None

    def start(self) -> None:
        recovered = self.scheduler.recover()
        if recovered:
            log.warning("recovered %d tries left running by a scheduler that stopped unexpectedly", recovered)
        now = self.scheduler.clock.now()
        for dag in self.scheduler.dags.values():
            if dag.schedule is not None and dag.schedule.kind == "reboot":
                self.scheduler.create_run(dag, now.replace(microsecond=0), "scheduled", now=now)
        for err in self.scheduler.registry.errors:
            log.error("%s", err)
        log.info("scheduler ready: %d DAGs, %d load errors, state in %s (pid %d)", len(self.scheduler.dags),
                  len(self.scheduler.registry.errors), self.settings.state_dir, os.getpid())

    def request_stop(self) -> None:
        if self._stop_deadline is None:
            log.info("stopping: no new runs or tries; running tries have %gs to finish", self.settings.grace)
            self._stop_deadline = self.scheduler.clock.monotonic() + self.settings.grace
            self.scheduler.stop()

    def _should_return(self) -> bool:
        return self._stop_deadline is not None and self.scheduler.clock.monotonic() >= self._stop_deadline

    def run(self) -> None:
        try:
            self.scheduler.run_loop(until=self._should_return)
            if self.scheduler.inflight:
                log.info("grace period over: killing %d running tries", len(self.scheduler.inflight))
                self.scheduler.kill_running("scheduler shutdown")
            log.info("scheduler stopped")
        finally:
            self.store.close()
            self.lock.release()


def serve(settings: Settings, registry: Registry, *, ui: bool, log_format: str) -> int:
    if ui:
        return _serve_with_ui(settings, registry)
    setup_logging(log_format)
    daemon = Daemon(settings, registry)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: daemon.request_stop())
    daemon.start()
    daemon.run()
    return 0


def _serve_with_ui(settings: Settings, registry: Registry) -> int:
    """The scheduler in a background thread, the TUI in the main thread; quitting the TUI stops both."""
    from .tui.app import make_app

    log_file = settings.state_dir / "scheduler.log"
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(log_file, "a") as stream:
        setup_logging("text", stream)
        daemon = Daemon(settings, registry)
        daemon.start()
        thread = threading.Thread(target=daemon.run, name="scheduler", daemon=True)
        thread.start()
        signal.signal(signal.SIGTERM, lambda signum, frame: daemon.request_stop())
        try:
            make_app(settings, registry=registry).run()
        finally:
            daemon.request_stop()
            thread.join()
    return 0
