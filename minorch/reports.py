"""Reports of a finished foreground run: the summary table, JSON, and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .durations import format_duration
from .foreground import RunResult, describe_try
from .states import TaskState

LOG_TAIL_BYTES = 4000


def _tries(result: RunResult, task_id: str) -> list:
    """The task's tries since the run was last cleared (a re-run of a date starts a new count)."""
    ti = result.tis.get(task_id)
    base = ti.try_base if ti else 0
    return [a for a in result.attempts.get(task_id, []) if a.try_number > base]


def _latest(result: RunResult, task_id: str):
    tries = _tries(result, task_id)
    return tries[-1] if tries else None


def summary_table(result: RunResult) -> str:
    rows = [["task", "state", "tries", "duration", "exit", "log"]]
    for tid in result.dag.topological():
        ti = result.tis.get(tid)
        latest = _latest(result, tid)
        duration, code = describe_try(latest)
        rows.append(
            [
                tid,
                ti.state.value if ti else "-",
                str(len(_tries(result, tid))),
                duration,
                code,
                latest.log_path if latest else "-",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    verdict = result.run.state.value.upper() if not result.interrupted else "INTERRUPTED"
    lines.append(f"\n{result.dag.dag_id} {result.run.run_id}: {verdict} in {format_duration(result.duration)}")
    return "\n".join(lines)


def run_json(result: RunResult) -> dict:
    tasks = []
    for tid in result.dag.topological():
        ti = result.tis.get(tid)
        latest = _latest(result, tid)
        tasks.append(
            {
                "task_id": tid,
                "state": ti.state.value if ti else None,
                "tries": len(_tries(result, tid)),
                "duration": latest.duration if latest else None,
                "exit_code": latest.exit_code if latest else None,
                "reason": (ti.note if ti and ti.note else (latest.reason if latest else None)),
                "log_path": latest.log_path if latest else None,
            }
        )
    return {
        "dag_id": result.dag.dag_id,
        "run_id": result.run.run_id,
        "logical_date": result.run.logical_date,
        "state": result.run.state.value,
        "interrupted": result.interrupted,
        "exit_code": result.exit_code,
        "duration": result.duration,
        "tasks": tasks,
    }


def log_tail(path: str | None, size: int = LOG_TAIL_BYTES) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


def junit_xml(result: RunResult) -> str:
    """One testsuite per run, one testcase per task; failures carry the reason and the log's tail."""
    suite = ET.Element("testsuite", name=result.dag.dag_id, tests=str(len(result.dag.tasks)))
    failures = skipped = 0
    total = 0.0
    for tid in result.dag.topological():
        ti = result.tis.get(tid)
        latest = _latest(result, tid)
        seconds = latest.duration or 0.0 if latest else 0.0
        total += seconds
        case = ET.SubElement(
            suite, "testcase", classname=f"{result.dag.dag_id}.{result.run.run_id}", name=tid, time=f"{seconds:.3f}"
        )
        state = ti.state if ti else TaskState.NONE
        reason = (ti.note if ti and ti.note else None) or (latest.reason if latest else "") or state.value
        if state in (TaskState.FAILED, TaskState.UPSTREAM_FAILED) or not state.finished:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{state.value}: {reason}", type=state.value)
            failure.text = log_tail(latest.log_path if latest else None)
        elif state is TaskState.SKIPPED:
            skipped += 1
            ET.SubElement(case, "skipped", message=reason)
        if latest and latest.log_path and Path(latest.log_path).exists():
            ET.SubElement(case, "system-out").text = log_tail(latest.log_path)
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    suite.set("time", f"{total:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
