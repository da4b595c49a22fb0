"""Notifications (real commands, a real HTTP server on 127.0.0.1) and the SLA check (pure)."""

from __future__ import annotations

import base64
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import minorch_command, wait_until

from minorch.notify import Notifier, _post, shown
from minorch.sla import SlaMiss, check
from minorch.spec import build_dag
from minorch.states import RunState, TaskState
from minorch.store import RunRecord, TaskInstance

NOW = datetime(2024, 1, 15, 12, 10, tzinfo=timezone.utc)
START = datetime(2024, 1, 15, 12, 0, tzinfo=timezone.utc).timestamp()  # the run started 10 minutes before NOW


class Receiver:
    """A webhook endpoint on 127.0.0.1: records each POST (headers, JSON body), answers after `delay` s."""

    def __init__(self, delay: float = 0.0) -> None:
        self.posts: list[tuple[dict, dict]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's spelling
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append((dict(self.headers), json.loads(body)))
                time.sleep(delay)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def slow_receiver():
    made = Receiver(delay=3.0)
    yield made
    made.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add_notifiers(project, text: str) -> None:
    config = project.root / "minorch.toml"
    config.write_text(config.read_text() + "\n" + text)


# ---------------------------------------------------------------- commands and webhooks


def test_a_command_notifier_gets_each_event_as_json_on_its_stdin(project):
    (project.root / "events").mkdir()
    add_notifiers(
        project,
        f"""
[notifiers.capture]
command = "cat > {project.root}/events/$$.json"
""",
    )
    project.write(
        "dags/notes.toml",
        """\
        [dags.notes]
        [dags.notes.tasks.ok]
        command = "true"
        on_success = ["capture"]
        [dags.notes.tasks.bad]
        command = "exit 3"
        retries = 1
        on_retry = ["capture"]
        on_failure = ["capture"]
        """,
    )
    done = project.minorch("run", "notes")
    assert done.returncode == 1, done.stderr
    files = wait_until(lambda: (found := list((project.root / "events").iterdir())) and len(found) == 3 and found)
    events = sorted((json.loads(path.read_text()) for path in files), key=lambda e: (e["task_id"], e["try_number"]))
    assert [(e["event"], e["task_id"], e["try_number"]) for e in events] == [
        ("on_retry", "bad", 1),
        ("on_failure", "bad", 2),
        ("on_success", "ok", 1),
    ]
    failure = events[1]
    assert failure["dag_id"] == "notes" and failure["state"] == "failed" and failure["run_id"].startswith("manual__")
    assert failure["message"] == "exited with code 3"
    assert failure["text"] == f"minorch: notes.bad failed (run {failure['run_id']}, try 2): exited with code 3"


def test_a_mail_notifier_hands_subject_and_event_to_the_mail_program_on_the_path(project):
    bin_folder = project.root / "bin"
    bin_folder.mkdir()
    mail = bin_folder / "mail"
    out = project.root / "mail.out"
    mail.write_text(f'#!/bin/sh\n{{ printf "%s\\n" "$@"; echo ---; cat; }} > {out}.tmp && mv {out}.tmp {out}\n')
    mail.chmod(0o755)
    add_notifiers(project, '[notifiers.ops]\nmail = "ops@example.com"\n')
    project.write(
        "dags/mailed.toml",
        """\
        [dags.mailed]
        [dags.mailed.tasks.bad]
        command = "exit 3"
        on_failure = ["ops"]
        """,
    )
    env = {**project.env(), "PATH": f"{bin_folder}:{project.env()['PATH']}"}
    done = minorch_command(["run", "mailed"], cwd=project.root, env=env)
    assert done.returncode == 1, done.stderr
    assert wait_until(out.exists), "the mail program was not run"
    args, _, body = out.read_text().partition("---\n")
    assert args.splitlines() == ["-s", "minorch: mailed.bad failed", "ops@example.com"]
    text, _, event = body.partition("\n\n")
    assert text.startswith("minorch: mailed.bad failed (run manual__") and text.endswith("exited with code 3")
    assert json.loads(event)["event"] == "on_failure"


def test_a_webhook_gets_the_event_as_json_with_a_slack_text_even_from_a_short_run(project, receiver):
    project.write(
        "dags/hook.toml",
        f"""\
        [dags.hook]
        [dags.hook.tasks.bad]
        command = "exit 4"
        on_failure = [{{ webhook = "{receiver.url}" }}]
        """,
    )
    done = project.minorch("run", "hook")
    assert done.returncode == 1
    [(headers, event)] = receiver.posts  # sent before `minorch run` exited
    assert headers["Content-Type"] == "application/json"
    assert event["event"] == "on_failure" and event["task_id"] == "bad" and event["message"] == "exited with code 4"
    assert event["text"].startswith("minorch: hook.bad failed (run manual__")


def test_a_webhook_url_with_a_login_sends_basic_auth_and_logs_only_scheme_and_host(receiver, caplog):
    port = receiver.url.split(":")[2].split("/")[0]
    _post(f"http://ops:p%40ss@127.0.0.1:{port}/services/T000/SECRET", {"dag_id": "d", "task_id": "t"}, 5.0)
    [(headers, event)] = receiver.posts
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:p@ss").decode()
    assert event == {"dag_id": "d", "task_id": "t"}
    closed = closed_port()
    _post(f"http://ops:p%40ss@127.0.0.1:{closed}/services/T000/SECRET", {"dag_id": "d", "task_id": "t"}, 5.0)
    [line] = [r.getMessage() for r in caplog.records if r.name == "minorch.notify"]
    assert line.startswith(f"webhook http://127.0.0.1:{closed}/... failed for d.t: ")
    assert "SECRET" not in line and "p%40ss" not in line and "ops" not in line


def test_slow_unreachable_and_failing_notifiers_never_hold_up_the_scheduler(project, slow_receiver):
    add_notifiers(
        project,
        f"""
[notifiers.slow]
webhook = "{slow_receiver.url}"
timeout = "1s"

[notifiers.nowhere]
webhook = "http://127.0.0.1:{closed_port()}/hook"

[notifiers.broken]
command = "exit 5"
""",
    )
    project.write(
        "dags/alerts.toml",
        """\
        [dags.alerts]
        [dags.alerts.tasks.bad]
        command = "exit 1"
        on_failure = ["slow", "nowhere", "broken"]
        [dags.alerts.tasks.after]
        command = "true"
        after = ["bad"]
        trigger_rule = "all_done"
        """,
    )
    assert project.minorch("trigger", "alerts").returncode == 0
    up = subprocess.Popen(
        [sys.executable, "-m", "minorch", "up", "--no-ui", "--log-format", "json"],
        cwd=project.root,
        env=project.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[dict] = []
    threading.Thread(target=lambda: lines.extend(json.loads(line) for line in up.stdout), daemon=True).start()
    try:
        store = project.store()
        [run] = store.runs("alerts")
        assert wait_until(lambda: store.run(run.pk).state.finished)
        tis = store.task_instances([run.pk])[run.pk]
        gap = tis["after"].start_date - tis["bad"].end_date
        assert gap < 0.5, f"the next task started {gap:.3f}s after the failure"
        # The POST comes from a thread of its own, unordered with the run's end: wait for it (bounded).
        # The slow endpoint then holds it past the notifier's 1 s timeout.
        assert wait_until(lambda: slow_receiver.posts, timeout=5)
        errors = wait_until(
            lambda: (
                len(
                    found := [
                        e["message"]
                        for e in lines
                        if e["logger"] == "minorch.notify" and e["message"].startswith("webhook")
                    ]
                )
                == 2
                and found
            ),
            timeout=5,
        )
        assert errors, lines
        assert any(shown(slow_receiver.url) in message and "timed out" in message for message in errors), errors
        assert not any("/hook" in message for message in errors), errors  # a hook's path may be its secret
        assert any("Connection refused" in message for message in errors), errors
        up.send_signal(signal.SIGTERM)
        assert up.wait(10) == 0
        assert any(e["message"] == "notifier 'broken' exited with code 5" for e in lines)
        store.close()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_an_sla_miss_reaches_the_dags_on_sla_miss_notifier_as_json(tmp_path):
    out = tmp_path / "miss.json"
    dag = build_dag(
        "etl",
        {"on_sla_miss": [{"command": f"cat > {out}"}], "tasks": {"load": {"command": "true", "sla": "5m"}}},
        file=None,
    )
    miss = SlaMiss(
        "etl",
        7,
        "scheduled__2024-01-15T12:00:00+00:00",
        "load",
        300.0,
        datetime(2024, 1, 15, 12, 5, tzinfo=timezone.utc),
        "running",
        None,
    )
    notifier = Notifier({})
    notifier.sla_missed(dag, miss, NOW)
    assert wait_until(lambda: out.exists() and out.read_text())
    event = json.loads(out.read_text())
    assert event["event"] == "on_sla_miss" and event["deadline"] == "2024-01-15T12:05:00+00:00"
    assert event["text"] == (
        "minorch: etl.load missed its SLA of 300s (run scheduled__2024-01-15T12:00:00+00:00, "
        "deadline 2024-01-15T12:05:00+00:00): still running"
    )


# ---------------------------------------------------------------- the SLA check (pure)


def sla_dag(**slas: str | None):
    """A chain of tasks, each with the given sla ("5m") or none."""
    tasks, previous = {}, None
    for task_id, sla in slas.items():
        tasks[task_id] = {
            "command": "true",
            **({"sla": sla} if sla else {}),
            **({"after": [previous]} if previous else {}),
        }
        previous = task_id
    return {"etl": build_dag("etl", {"tasks": tasks}, file=None)}


def a_run(pk: int = 1, state: RunState = RunState.RUNNING, start: float | None = START) -> RunRecord:
    return RunRecord(
        pk, "etl", f"manual__{pk}", "manual", "2024-01-15T12:00:00+00:00", None, None, state, {}, START, start, None
    )


def a_ti(task_id: str, state: TaskState, end_minute: float | None = None, pk: int = 1) -> TaskInstance:
    end = START + end_minute * 60 if end_minute is not None else None
    return TaskInstance(pk, task_id, -1, state, 1, 0, None, START, end, None, None)


def at_minute(minute: float) -> datetime:
    return datetime.fromtimestamp(START + minute * 60, timezone.utc)


def test_a_task_still_running_past_its_deadline_is_a_miss():
    found = check(sla_dag(load="5m"), [a_run()], {1: {"load": a_ti("load", TaskState.RUNNING)}}, NOW)
    [miss] = found.misses
    assert (miss.task_id, miss.state, miss.deadline, miss.finished_at, miss.late) == (
        "load",
        "running",
        at_minute(5),
        None,
        0.0,
    )
    assert found.wake_at is None


def test_a_task_not_yet_at_its_deadline_is_no_miss_and_sets_the_next_look():
    found = check(sla_dag(load="15m"), [a_run()], {1: {"load": a_ti("load", TaskState.UP_FOR_RETRY)}}, NOW)
    assert found.misses == [] and found.wake_at == at_minute(15)


def test_a_task_that_finished_before_its_deadline_is_no_miss():
    found = check(sla_dag(load="5m"), [a_run()], {1: {"load": a_ti("load", TaskState.SUCCESS, end_minute=5)}}, NOW)
    assert found.misses == [] and found.wake_at is None


def test_a_task_that_finished_after_its_deadline_is_a_miss_even_if_nobody_looked_in_time():
    found = check(sla_dag(load="5m"), [a_run()], {1: {"load": a_ti("load", TaskState.FAILED, end_minute=7)}}, NOW)
    [miss] = found.misses
    assert (miss.state, miss.finished_at, miss.late) == ("failed", at_minute(7), 120.0)


def test_a_task_the_run_has_not_created_yet_counts_as_not_finished():
    [miss] = check(sla_dag(load="5m"), [a_run()], {1: {}}, NOW).misses
    assert miss.state == "none"


def test_misses_already_notified_are_not_reported_again():
    tis = {1: {"extract": a_ti("extract", TaskState.RUNNING), "load": a_ti("load", TaskState.NONE)}}
    found = check(sla_dag(extract="1m", load="2m"), [a_run()], tis, NOW, notified={(1, "extract")})
    assert [m.task_id for m in found.misses] == ["load"]


def test_tasks_without_an_sla_and_runs_not_started_have_no_deadline():
    tis = {
        1: {"extract": a_ti("extract", TaskState.RUNNING), "load": a_ti("load", TaskState.SUCCESS, end_minute=1)},
        2: {"load": a_ti("load", TaskState.NONE, pk=2)},
    }
    found = check(sla_dag(extract=None, load="1m"), [a_run(1), a_run(2, RunState.QUEUED, start=None)], tis, NOW)
    assert found.misses == [] and found.wake_at is None


def test_unfinished_tasks_of_a_finished_run_are_not_reported():
    found = check(sla_dag(load="5m"), [a_run(state=RunState.FAILED)], {1: {"load": a_ti("load", TaskState.NONE)}}, NOW)
    assert found.misses == [] and found.wake_at is None


def test_the_next_look_is_the_earliest_deadline_ahead_across_runs_and_tasks():
    dags = sla_dag(extract="30m", load="20m")
    runs = [
        a_run(1),
        RunRecord(
            2,
            "etl",
            "manual__2",
            "manual",
            "2024-01-15T12:05:00+00:00",
            None,
            None,
            RunState.RUNNING,
            {},
            START,
            START + 300,
            None,
        ),
    ]
    tis = {
        pk: {"extract": a_ti("extract", TaskState.RUNNING, pk=pk), "load": a_ti("load", TaskState.NONE, pk=pk)}
        for pk in (1, 2)
    }
    found = check(dags, runs, tis, NOW)
    assert found.misses == [] and found.wake_at == at_minute(20)
    later = check(dags, runs, tis, NOW + timedelta(minutes=12))
    assert [(m.run_pk, m.task_id) for m in later.misses] == [(1, "load")]
    assert later.wake_at == at_minute(25)
