"""Runs an Airflow task callback (`on_failure_callback`, ...) in a child process of its own.

A task whose Airflow arguments name callbacks gets a minorch command notifier
``python -m minorch.airflow.callback FILE KIND``: minorch starts it with the event as JSON on
stdin (never in the scheduler process), and this module imports the DAG file again (with the
`airflow.*` names served), finds the task's callback of that KIND and calls it with an
Airflow-style context. Its output goes to this process's stderr and its exit code to minorch's
notifier log.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from ..runtime import Namespace

#: Each loaded task's callbacks: (dag_id, task_id) -> {"on_failure": fn, ...}; filled while a file loads.
CALLBACKS: dict[tuple[str, str], dict] = {}
KINDS = {"on_failure_callback": "on_failure", "on_retry_callback": "on_retry", "on_success_callback": "on_success"}


def notifier(path: str | None, kind: str) -> dict:
    """The minorch notifier that calls a task's `kind` callback of the DAG file `path`."""
    import shlex

    return {"command": f"{shlex.quote(sys.executable)} -m minorch.airflow.callback {shlex.quote(path or '')} {kind}"}


def context(event: dict) -> dict:
    """Airflow's callback context, from minorch's notification event."""
    logical = datetime.fromisoformat(event["logical_date"])
    ti = Namespace(
        dag_id=event["dag_id"],
        task_id=event["task_id"],
        run_id=event["run_id"],
        try_number=event.get("try_number"),
        state=event.get("state"),
    )
    return {
        "dag_id": event["dag_id"],
        "task_id": event["task_id"],
        "run_id": event["run_id"],
        "ti": ti,
        "task_instance": ti,
        "dag_run": Namespace(run_id=event["run_id"], logical_date=logical, dag_id=event["dag_id"]),
        "logical_date": logical,
        "ds": logical.date().isoformat(),
        "ts": logical.isoformat(),
        "exception": event.get("message"),
        "reason": event.get("message"),
    }


def main(argv: list[str]) -> int:
    from ..dagfile import load_dag_file
    from .callback import CALLBACKS as loaded  # this module as the DAG file's import registered it (not __main__)

    path, kind = argv
    event = json.loads(sys.stdin.read())
    load_dag_file(path)
    found = loaded.get((event["dag_id"], event["task_id"]), {}).get(kind)
    if found is None:
        print(f"no {kind} callback for {event['dag_id']}.{event['task_id']} in {path}", file=sys.stderr)
        return 1
    for callback in found if isinstance(found, (list, tuple)) else [found]:
        callback(context(event))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
