"""`minorch status`: is this project's scheduler alive and well? A health check for monitoring."""

from __future__ import annotations

from datetime import datetime, timezone

from .config import Settings
from .operations import scheduler_holder
from .records import RunRecord
from .registry import Registry


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="seconds") if ts is not None else None


def status(settings: Settings, registry: Registry) -> dict:
    """The scheduler holding the state file (pid, what, since, version) or None; the DAG count and
    load errors of the DAG files as they are now; the tries running; the latest failed try.
    `healthy` is true when a `minorch up` runs and every DAG file loads."""
    holder = scheduler_holder(settings)
    running: list[dict] = []
    last_failure = None
    if settings.db_path.exists():
        from .store import Store

        store = Store(settings.db_path, readonly=True)
        try:
            runs: dict[int, RunRecord | None] = {}
            for attempt in store.open_attempts():
                run = runs.setdefault(attempt.run_pk, store.run(attempt.run_pk))
                running.append(
                    {
                        "dag_id": run.dag_id if run else None,
                        "run_id": run.run_id if run else None,
                        "task_id": attempt.task_id,
                        "map_index": attempt.map_index,
                        "try_number": attempt.try_number,
                        "pid": attempt.pid,
                        "since": _iso(attempt.start_date),
                    }
                )
            failed = store.last_failed_attempt()
            if failed is not None:
                run = store.run(failed.run_pk)
                last_failure = {
                    "dag_id": run.dag_id if run else None,
                    "run_id": run.run_id if run else None,
                    "task_id": failed.task_id,
                    "try_number": failed.try_number,
                    "ended": _iso(failed.end_date),
                    "reason": failed.reason,
                }
        finally:
            store.close()
    scheduler = None
    if holder is not None:
        scheduler = {"pid": holder.pid, "what": holder.what, "since": holder.since, "version": holder.version}
    errors = [{"file": e.file, "line": e.line, "message": e.message, "hint": e.hint} for e in registry.errors]
    return {
        "healthy": bool(holder and holder.is_up) and not errors,
        "scheduler": scheduler,
        "state_file": str(settings.db_path),
        "dags": len(registry.dags),
        "load_errors": errors,
        "running_tries": running,
        "last_failure": last_failure,
    }
