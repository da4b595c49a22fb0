"""What CI jobs and monitoring read: run's failure output, JSON (errors too), JUnit XML that
parses, log escapes, `status`, and early checks — all through real `python -m minorch` processes."""

from __future__ import annotations

import json
import os
import sqlite3
import xml.etree.ElementTree as ET

import pytest
from conftest import wait_until

CHECKS = """
[dags.checks]
schedule = "manual"
[dags.checks.tasks.noisy]
command = "for i in $(seq 1 30); do echo line $i; done; echo 'to stderr' >&2; exit 3"
[dags.checks.tasks.after_noisy]
command = "true"
after = ["noisy"]
[dags.checks.tasks.flaky]
command = "echo attempt; test -f flaky.marker || {{ touch flaky.marker; echo 'first try fails'; exit 1; }}"
retries = 1
retry_delay = "0s"
[dags.checks.tasks.fine]
command = "echo fine"
"""
BYTES = """
[dags.bytes]
schedule = "manual"
[dags.bytes.tasks.every_byte]
command = "python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 2); sys.exit(1)'"
[dags.bytes.tasks.colour]
command = "printf '\\\\033[31mred\\\\033[0m \\\\033]0;title\\\\007 done\\\\n'"
"""


@pytest.fixture
def checks(project):
    project.write("dags/checks.toml", CHECKS.replace("{{", "{").replace("}}", "}"))
    project.write("dags/bytes.toml", BYTES)
    return project


# ---------------------------------------------------------------- minorch run


def test_a_failed_run_prints_the_failed_tasks_reason_and_last_20_log_lines_to_stderr(checks):
    done = checks.minorch("run", "checks", "-q")
    assert done.returncode == 1
    report = done.stderr.split("--- noisy failed: ", 1)[1]
    assert report.startswith("exited with code 3; last lines of its log:\n")
    tail = report.splitlines()[1:]
    assert len(tail) == 20 and tail[-1] == "to stderr" and tail[0] == "line 12" and "line 11" not in tail
    assert "after_noisy failed" not in done.stderr  # only tasks that failed themselves
    assert "checks manual__" in done.stdout and "FAILED" in done.stdout


def test_json_carries_the_log_tail_of_each_failed_task(checks):
    done = checks.minorch("run", "checks", "--json")
    assert done.returncode == 1
    tasks = {t["task_id"]: t for t in json.loads(done.stdout)["tasks"]}
    assert tasks["noisy"]["log_tail"].splitlines()[-2:] == ["line 30", "to stderr"]
    assert "log_tail" not in tasks["fine"] and "log_tail" not in tasks["after_noisy"]
    assert tasks["flaky"]["state"] == "success" and tasks["flaky"]["tries"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "chekcs", "--json"], "no DAG 'chekcs'"),
        (["run", "checks", "--json", "--param", "oops"], "--param 'oops' is not KEY=VALUE"),
        (["run", "checks", "--date", "not-a-date", "--json"], "--date 'not-a-date' is not a date"),
        (["next", "checks", "--json", "-n", "0"], "Invalid value for '-n'"),
        (["trigger", "nope", "--json"], "no DAG 'nope'"),
        (["runs", "checks", "--json", "--state", "bogus"], "Invalid value for '--state'"),
    ],
)
def test_with_json_an_error_is_a_json_object_on_stdout_and_exit_2(checks, args, message):
    done = checks.minorch(*args)
    assert done.returncode == 2, done
    error = json.loads(done.stdout)["error"]
    assert message in error["message"] and error["exit_code"] == 2
    assert done.stderr.startswith("minorch: error: ")  # people still read stderr


def test_junit_is_valid_xml_for_logs_holding_every_byte_and_escape_sequences(checks):
    report = checks.root / "bytes.xml"
    done = checks.minorch("run", "bytes", "--junit", str(report), "-q")
    assert done.returncode == 1
    suite = ET.parse(report).getroot()  # expat: refuses any character XML forbids
    cases = {c.get("name"): c for c in suite}
    failure = cases["every_byte"].find("failure")
    assert "\\x1b" in failure.text and "\\x00" in failure.text and "\\x7f" in failure.text
    assert "\x1b" not in report.read_text(errors="replace")
    out = cases["colour"].find("system-out").text
    assert out.strip() == "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 done"


def test_junit_marks_upstream_failed_as_skipped_and_a_retried_success_as_flaky(checks):
    report = checks.root / "checks.xml"
    assert checks.minorch("run", "checks", "--junit", str(report), "-q").returncode == 1
    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped"), suite.get("flakes")) == (
        "4",
        "1",
        "1",
        "1",
    )
    cases = {c.get("name"): c for c in suite}
    assert cases["noisy"].find("failure").get("message") == "failed: exited with code 3"
    skipped = cases["after_noisy"].find("skipped")
    assert skipped.get("message").startswith("upstream_failed: ") and cases["after_noisy"].find("failure") is None
    flaky = cases["flaky"].findall("flakyFailure")
    assert len(flaky) == 1 and flaky[0].get("message") == "try 1: exited with code 1"
    assert "first try fails" in flaky[0].find("system-out").text
    assert cases["flaky"].find("failure") is None and cases["fine"].find("failure") is None


def test_a_retried_failure_lists_its_earlier_tries_as_rerun_failures(project):
    project.write(
        "dags/twice.toml",
        '[dags.twice]\nschedule = "manual"\n[dags.twice.tasks.no]\ncommand = "echo try $MINORCH_TRY; exit 1"\n'
        'retries = 1\nretry_delay = "0s"\n',
    )
    report = project.root / "twice.xml"
    assert project.minorch("run", "twice", "--junit", str(report), "-q").returncode == 1
    case = ET.parse(report).getroot().find("testcase")
    assert case.find("failure") is not None
    reruns = case.findall("rerunFailure")
    assert [r.get("message") for r in reruns] == ["try 1: exited with code 1"]


@pytest.mark.parametrize("where", ["missing/folder/report.xml", "a-folder", "read-only/report.xml"])
def test_an_unusable_junit_path_is_refused_before_anything_runs(checks, where):
    (checks.root / "a-folder").mkdir()
    (checks.root / "read-only").mkdir()
    (checks.root / "read-only").chmod(0o500)
    if where.startswith("read-only") and os.access(checks.root / "read-only", os.W_OK):
        pytest.skip("running as root: a read-only folder is still writable")
    done = checks.minorch("run", "checks", "--junit", where)
    assert done.returncode == 2 and done.stdout == ""
    assert where in done.stderr and "Traceback" not in done.stderr  # a folder is refused by the option itself
    if where != "a-folder":
        assert done.stderr.startswith(f"minorch: error: --junit {where}: ") and len(done.stderr.splitlines()) == 1
    assert not (checks.root / "flaky.marker").exists()  # no task ran


# ---------------------------------------------------------------- logs


def test_logs_shows_escape_sequences_as_text_unless_raw(checks):
    assert checks.minorch("run", "bytes", "-q").returncode == 1
    shown = checks.minorch("logs", "bytes", "latest", "colour")
    assert shown.returncode == 0 and shown.stdout == "\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 done\n"
    raw = checks.minorch("logs", "bytes", "latest", "colour", "--raw")
    assert raw.stdout == "\x1b[31mred\x1b[0m \x1b]0;title\x07 done\n"
    every = checks.minorch("logs", "bytes", "latest", "every_byte")
    assert not any(ch in every.stdout for ch in "\x00\x07\x1b\x7f\x9b")
    assert "\\x1b" in every.stdout and "\\x9b" in every.stdout


def test_logs_json_gives_one_record_per_line(checks):
    assert checks.minorch("run", "checks", "-q").returncode == 1
    done = checks.minorch("logs", "checks", "latest", "noisy", "--json")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 31 and records[0]["text"] == "line 1" and records[-1]["text"] == "to stderr"
    assert records[4] == {
        "dag_id": "checks",
        "run_id": records[4]["run_id"],
        "task_id": "noisy",
        "map_index": -1,
        "try_number": 1,
        "line": 5,
        "text": "line 5",
    }


# ---------------------------------------------------------------- next, trigger, backfill as JSON


def test_next_caps_its_count_with_a_clear_error(checks):
    done = checks.minorch("next", "checks", "-n", str(10**20))
    assert done.returncode == 2 and "is not in the range 1<=x<=10000" in done.stderr


def test_next_and_dags_start_at_the_dags_start_date(project):
    project.write(
        "dags/later.toml",
        '[dags.later]\nschedule = "0 6 * * *"\nstart_date = "2031-03-10"\n[dags.later.tasks.a]\ncommand = "true"\n',
    )
    fires = json.loads(project.minorch("next", "later", "-n", "2", "--json").stdout)
    assert [f["fires_at_utc"] for f in fires] == ["2031-03-10 06:00:00+00:00", "2031-03-11 06:00:00+00:00"]
    [row] = json.loads(project.minorch("dags", "--json").stdout)
    assert row["next_fire"] == "2031-03-10T06:00:00+00:00"


def test_trigger_and_backfill_print_json(checks):
    triggered = json.loads(checks.minorch("trigger", "checks", "--date", "2024-03-01", "--json").stdout)
    assert triggered == {
        "dag_id": "checks",
        "run_id": "manual__2024-03-01T00:00:00+00:00",
        "paused": False,
        "scheduler": None,
    }
    checks.write("dags/daily.toml", '[dags.daily]\nschedule = "@daily"\n[dags.daily.tasks.a]\ncommand = "true"\n')
    planned = checks.minorch("backfill", "daily", "--start", "2024-01-01", "--end", "2024-01-03", "--json")
    plan = json.loads(planned.stdout)
    assert plan["created"] == [f"2024-01-0{d}T00:00:00+00:00" for d in (1, 2, 3)] and plan["dry_run"] is False
    assert [r["state"] for r in plan["runs"]] == ["queued"] * 3
    waited = checks.minorch("backfill", "daily", "--start", "2024-01-04", "--end", "2024-01-05", "--wait", "--json")
    assert waited.returncode == 0, waited.stderr
    result = json.loads(waited.stdout)  # nothing but the JSON on stdout, no progress bar
    assert [(r["state"], r["failed_tasks"]) for r in result["runs"]] == [("success", [])] * 2


# ---------------------------------------------------------------- status, trigger's promise


def test_status_is_unhealthy_without_a_scheduler_and_healthy_with_minorch_up(checks, up_processes):
    down = checks.minorch("status")
    assert down.returncode == 1 and "scheduler: not running" in down.stdout and "NOT healthy" in down.stdout
    up = up_processes(checks)
    up.ready()
    done = checks.minorch("status", "--json")
    assert done.returncode == 0, done.stdout
    report = json.loads(done.stdout)
    assert report["healthy"] is True and report["scheduler"]["pid"] == up.proc.pid
    assert report["scheduler"]["what"] == "minorch up" and report["scheduler"]["version"] == "0.1.0"
    assert report["dags"] == 2 and report["load_errors"] == []  # checks and bytes
    checks.write("dags/broken.toml", '[dags.broken]\nschedule = "nope"\n')
    broken = json.loads(checks.minorch("status", "--json").stdout)
    assert broken["healthy"] is False and "broken.toml" in broken["load_errors"][0]["file"]


def test_status_shows_running_tries_and_the_last_failure(checks):
    assert checks.minorch("run", "checks", "-q").returncode == 1
    checks.write("dags/slow.toml", '[dags.slow]\nschedule = "manual"\n[dags.slow.tasks.nap]\ncommand = "sleep 30"\n')
    run = checks.start("run", "slow")
    try:
        assert wait_until(lambda: json.loads(checks.minorch("status", "--json").stdout)["running_tries"], 20)
        report = json.loads(checks.minorch("status", "--json").stdout)
        assert report["healthy"] is False and report["scheduler"]["what"] == "minorch run"
        assert [t["task_id"] for t in report["running_tries"]] == ["nap"]
        assert report["last_failure"]["task_id"] in ("noisy", "flaky")
        triggered = checks.minorch("trigger", "checks")
        assert f"only a foreground `minorch run` (pid {run.pid}) is running" in triggered.stdout
        assert "the next `minorch up` starts it" in triggered.stdout
        other = checks.minorch("run", "checks", "-q")  # another DAG's one-shot run goes meanwhile
        assert other.returncode == 1 and "another minorch" not in other.stderr
        second = checks.minorch("run", "slow", "-q")  # one driver per DAG: it says who holds it
        assert second.returncode == 2
        assert f"(pid {run.pid}, minorch run since " in second.stderr and "version 0.1.0" in second.stderr
    finally:
        os.killpg(run.pid, 15)
        run.wait(20)


# ---------------------------------------------------------------- early checks


def test_init_on_a_file_or_an_unwritable_place_is_one_line(project):
    for target in ("/dev/null", "/proc/no-such-folder"):
        done = project.minorch("init", target)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.startswith("minorch: error: ")


def test_db_check_exits_1_on_a_damaged_state_file(checks):
    assert checks.minorch("run", "checks", "-q").returncode == 1
    db = checks.root / ".minorch" / "minorch.db"
    assert checks.minorch("db", "check").returncode == 0
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(8000))
    done = checks.minorch("db", "check", "--json")
    assert done.returncode == 1 and json.loads(done.stdout)["ok"] is False
    assert checks.minorch("db", "check").returncode == 1
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(db).execute("select * from sqlite_master").fetchall()
