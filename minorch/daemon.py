"""`minorch up`: the scheduler loop until SIGTERM/SIGINT, headless or under the TUI (`tui.host`).

Start: take the state folder's lock (a second scheduler exits 2 naming the holder), recover
the tries the previous scheduler left open (``on_restart = "adopt"``, the default: a try still
running is adopted and recorded once when it ends; ``"kill"``: it is stopped and tried again
without counting against retries; one that ended meanwhile is recorded as it ended), create
`@reboot` runs, log "scheduler ready" and, under systemd with `Type=notify`, send READY=1.

Shutdown on SIGTERM or SIGINT: create no more runs or tries and give running tries
`grace` seconds (minorch.grace) to finish. Then, with ``on_restart = "adopt"``, the tries
still running are left running for the next start to adopt (a restart or an upgrade does not
kill a long job). With ``"kill"`` the executor sends SIGTERM to what is left, waits `grace`
again and sends SIGKILL; those tries are recorded as interrupted: they run again at the next
start, not counted against retries (as after a crash). A second signal skips the first wait.
Exit code 0. The longest stop is therefore 2 x grace + 2 s (a child stuck in the kernel).

Logs go to stdout as text or JSON lines (one object per line: time, level, logger, message
and, for state changes, event, dag_id, run_id, task_id, state, try_number).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone

from .config import Settings
from .errors import StoreError
from .foreground import format_event
from .lock import SchedulerLock
from .metrics import Publisher
from .notify import EXIT_FLUSH
from .registry import Registry
from .scheduler import Event, Scheduler
from .store import Store

log = logging.getLogger("minorch")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


class TextFormatter(logging.Formatter):
    """`2024-05-01T03:00:00.412+02:00 INFO  message`: local time with its UTC offset, so a line
    read in another zone, or across a DST change, says when it happened."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-5s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, timezone.utc).astimezone().isoformat(timespec="milliseconds")


def setup_logging(log_format: str, stream=None) -> None:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger("minorch")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def log_event(event: Event) -> None:
    fields = {
        "event": event.kind,
        "dag_id": event.dag_id,
        "run_id": event.run_id,
        "task_id": event.task_id,
        "state": event.state,
        "try_number": event.try_number,
    }
    level = logging.ERROR if event.state in ("failed", "upstream_failed") else logging.INFO
    log.log(level, "%s", format_event(event).split("  ", 1)[1], extra={"fields": fields})


def seconds_since_exec() -> float:
    """Seconds since this process started, to 10 ms (Linux: its start tick in /proc/self/stat
    against CLOCK_BOOTTIME, the same clock; psutil's create_time adds a boot time rounded to
    the second, so it is no use here). -1.0 where /proc is missing."""
    try:
        with open("/proc/self/stat", "rb") as f:
            start_ticks = int(f.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
    except OSError:
        return -1.0
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


def sd_notify(message: str) -> bool:
    """Send `message` ("READY=1", "STOPPING=1", "STATUS=...") to systemd's $NOTIFY_SOCKET.
    False when not run by systemd with Type=notify, or when the socket refuses it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket (containers, systemd --user)
        address = "\0" + address[1:]
    import socket  # only under systemd

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message.encode(), address)
        return True
    except OSError as err:
        log.warning("could not tell systemd %r: %s", message, err)
        return False


class Daemon:
    """The scheduler with its lock and store, run in the main thread or a background thread.

    Thread safety: `request_stop` may be called from a signal handler or another thread;
    it only sets the scheduler's stop flag and a deadline. Everything else runs in the
    thread that calls `run`.
    """

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.lock = SchedulerLock(settings.state_dir)
        self.lock.acquire("minorch up")
        self.store = Store(settings.db_path)
        self.scheduler = Scheduler(settings, self.store, registry=registry, on_event=log_event)
        self._stop_deadline: float | None = None
        self.metrics = Publisher(settings)

    def start_metrics(self) -> None:
        """The metrics endpoint and/or textfile, if minorch.toml asks for them (ConfigError if they cannot start);
        they read the state file in their own threads, never in the scheduler's loop."""
        try:
            self.metrics.start()
        except Exception:
            self.close()
            raise

    def start(self) -> None:
        """Recover, queue `@reboot` runs, say "scheduler ready" (with the ms since exec)."""
        recovered = self._recover()
        if recovered:
            log.warning(
                "recovered %d tries left open by the previous scheduler: %s, ended ones recorded as they "
                "ended, lost ones run again without counting against retries",
                recovered,
                "tries still running were adopted"
                if self.settings.on_restart == "adopt"
                else "tries still running were stopped and run again",
            )
        now = self.scheduler.clock.now()
        for dag in self.scheduler.dags.values():
            if dag.schedule is not None and dag.schedule.kind == "reboot":
                # One run per start: run ids have one-second resolution, so a start within the same
                # second as the previous one takes the next free second as its logical date.
                moment = now.replace(microsecond=0)
                while not self.scheduler.create_run(dag, moment, "scheduled", now=now)[1]:
                    moment += timedelta(seconds=1)
        for err in self.scheduler.registry.errors:
            log.error("%s", err)
        dags, errors = len(self.scheduler.dags), len(self.scheduler.registry.errors)
        isolation = self.scheduler.executor.isolation
        log.info(
            "a timed-out or cancelled try is stopped through %s", isolation, extra={"fields": {"isolation": isolation}}
        )
        ready_ms = round(seconds_since_exec() * 1000)
        log.info(
            "scheduler ready in %d ms: %d DAGs, %d load errors, state in %s (pid %d)",
            ready_ms,
            dags,
            errors,
            self.settings.state_dir,
            os.getpid(),
            extra={
                "fields": {
                    "event": "ready",
                    "ready_ms": ready_ms,
                    "dags": dags,
                    "load_errors": errors,
                    "pid": os.getpid(),
                    "state_dir": str(self.settings.state_dir),
                }
            },
        )
        self.metrics.ready = True
        sd_notify(f"READY=1\nSTATUS=scheduling {dags} DAGs")

    def _recover(self) -> int:
        """`Scheduler.recover`, tried again while the state file cannot be written (see `outage`),
        until it succeeds or a stop is asked for."""
        outage = self.scheduler.outage
        while True:
            try:
                recovered = self.scheduler.recover()
            except (sqlite3.Error, OSError) as err:
                outage.failed(err, running=0, waiting=0)
                if self.scheduler.stopping:
                    return 0
                time.sleep(max(0.0, outage.retry_at - self.scheduler.clock.monotonic()))
                continue
            outage.over()
            return recovered

    def request_stop(self) -> None:
        """First call: no new runs or tries, running tries get `grace` seconds.
        A second call ends the grace period now."""
        now = self.scheduler.clock.monotonic()
        if self._stop_deadline is None:
            log.info("stopping: no new runs or tries; running tries have %gs to finish", self.settings.grace)
            self._stop_deadline = now + self.settings.grace
            self.scheduler.stop()
            sd_notify("STOPPING=1")
        elif now < self._stop_deadline:
            log.info("stopping now: asked twice")
            self._stop_deadline = now
            self.scheduler.wakeup()

    def _should_return(self) -> bool:
        return self._stop_deadline is not None and self.scheduler.clock.monotonic() >= self._stop_deadline

    def run(self) -> None:
        """The loop until a stop was requested and the grace period is over or nothing runs."""
        try:
            try:
                self.scheduler.run_loop(until=self._should_return)
            except StoreError:
                log.error("the state file cannot be used: stopping %d running tries", len(self.scheduler.inflight))
                self.scheduler.executor.shutdown(self.settings.grace)
                raise
            if self.scheduler.inflight and self.settings.on_restart == "adopt":
                left = self.scheduler.leave_running()
                log.info(
                    "grace period over: %d tries keep running; the next minorch up adopts them "
                    '(on_restart = "kill" stops them instead)',
                    left,
                )
            elif self.scheduler.inflight:
                log.info(
                    "grace period over: stopping %d running tries (SIGTERM, %gs, SIGKILL); they are recorded "
                    "as interrupted and run again at the next start, not counted against retries",
                    len(self.scheduler.inflight),
                    self.settings.grace,
                )
                self.scheduler.kill_running("interrupted: the scheduler was stopped while this try ran")
            self.scheduler.notifier.flush(EXIT_FLUSH)  # before the log says stopped
            log.info("scheduler stopped")
        finally:
            self.close()

    def close(self) -> None:
        self.metrics.stop()
        self.scheduler.close()
        self.store.close()
        self.lock.release()


def serve(settings: Settings, registry: Registry, *, log_format: str) -> int:
    """`minorch up` without the UI: returns the exit code (0 after a requested stop).
    With the UI, `tui.host.serve` runs the same `Daemon` in a thread."""
    setup_logging(log_format)
    daemon = Daemon(settings, registry)
    daemon.start_metrics()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: daemon.request_stop())
    daemon.start()
    daemon.run()
    return 0
