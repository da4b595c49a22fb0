"""Reports of a finished foreground run: the summary table, JSON, and JUnit XML for CI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .durations import format_duration
from .foreground import RunResult, describe_try
from .states import TaskState
from .visible import visible

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

LOG_TAIL_BYTES = 16384  # read at most this much of a log's end
TAIL_LINES = 20  # lines of a failed task's log shown on stderr, in --json and in a JUnit failure
LOG_OUT_LINES = 200  # lines of a task's log in its JUnit <system-out>


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
        if tasks[-1]["state"] == TaskState.FAILED.value:
            tasks[-1]["log_tail"] = log_tail(latest.log_path if latest else None)
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


def log_tail(path: str | None, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of a log (read from its last LOG_TAIL_BYTES), control characters
    made visible; "" when there is no log."""
    if not path:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - LOG_TAIL_BYTES))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode(errors="replace").replace("\r\n", "\n")
    return visible("\n".join(text.splitlines()[-lines:]))


def failed_tasks(result: RunResult) -> list[str]:
    """The tasks that failed themselves (not those whose upstream failed), in DAG order."""
    return [tid for tid in result.dag.topological() if _state(result, tid) is TaskState.FAILED]


def failure_report(result: RunResult) -> str:
    """For stderr after a failed run: each failed task's reason and the tail of its log."""
    parts = []
    for tid in failed_tasks(result):
        latest = _latest(result, tid)
        tail = log_tail(latest.log_path if latest else None)
        head = f"--- {tid} failed: {_reason(result, tid)}"
        parts.append(head + (f"; last lines of its log:\n{tail}" if tail else " (no output)"))
    return "\n".join(parts)


def _state(result: RunResult, task_id: str) -> TaskState:
    ti = result.tis.get(task_id)
    return ti.state if ti else TaskState.NONE


def _reason(result: RunResult, task_id: str) -> str:
    ti, latest = result.tis.get(task_id), _latest(result, task_id)
    return visible(
        (ti.note if ti and ti.note else None) or (latest.reason if latest else "") or _state(result, task_id).value
    )


def junit_xml(result: RunResult) -> str:
    """One testsuite per run, one testcase per task, as Maven Surefire writes them: a failed task
    is a <failure> (earlier tries as <rerunFailure>), a task that failed and then passed on a retry
    is flaky (<flakyFailure> per failed try), a skipped or upstream_failed task is <skipped>.
    Every text is valid XML: control characters in logs are written out as \\xNN."""
    import xml.etree.ElementTree as ET  # only for --junit

    suite = ET.Element("testsuite", name=result.dag.dag_id, tests=str(len(result.dag.tasks)))
    failures = skipped = flaky = 0
    total = 0.0
    for tid in result.dag.topological():
        tries = _tries(result, tid)
        latest = tries[-1] if tries else None
        seconds = latest.duration or 0.0 if latest else 0.0
        total += seconds
        case = ET.SubElement(
            suite, "testcase", classname=f"{result.dag.dag_id}.{result.run.run_id}", name=tid, time=f"{seconds:.3f}"
        )
        state = _state(result, tid)
        reason = _reason(result, tid)
        earlier = [a for a in tries[:-1] if a.outcome == "failed"]
        if state is TaskState.FAILED or not state.finished:
            failures += 1
            _failure(case, "failure", f"{state.value}: {reason}", state.value, latest)
            for attempt in earlier:
                _failure(case, "rerunFailure", _try_message(attempt), "failed", attempt)
        elif state in (TaskState.SKIPPED, TaskState.UPSTREAM_FAILED):
            skipped += 1
            ET.SubElement(case, "skipped", message=f"{state.value}: {reason}")
        elif earlier:
            flaky += 1
            for attempt in earlier:
                _failure(case, "flakyFailure", _try_message(attempt), "failed", attempt)
        if latest and latest.log_path and Path(latest.log_path).exists():
            ET.SubElement(case, "system-out").text = log_tail(latest.log_path, lines=LOG_OUT_LINES)
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    suite.set("flakes", str(flaky))
    suite.set("time", f"{total:.3f}")
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


def _try_message(attempt) -> str:
    return visible(f"try {attempt.try_number}: {attempt.reason or attempt.outcome or 'failed'}")


def _failure(case: ET.Element, tag: str, message: str, kind: str, attempt) -> None:
    import xml.etree.ElementTree as ET

    element = ET.SubElement(case, tag, message=message, type=kind)
    tail = log_tail(attempt.log_path if attempt else None)
    if tag == "failure":
        element.text = tail
    elif tail:  # Surefire nests a rerun's output in it
        ET.SubElement(element, "system-out").text = tail
