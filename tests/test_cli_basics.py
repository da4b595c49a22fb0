"""`minorch init`, `validate`, `dags`, `graph` and `next`, run as real processes on real files."""

from __future__ import annotations

import json
import platform
import re
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import child_env, minorch_command

from minorch import __version__

ROOT = Path(__file__).resolve().parent.parent
GOOD = '[dags.good]\nschedule = "@daily"\n\n[dags.good.tasks.a]\ncommand = "true"\n'


def minorch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = child_env()
    env.pop("MINORCH_CONFIG", None)
    return minorch_command(list(args), cwd=cwd, env=env)


@pytest.fixture
def project(tmp_path):
    """A folder with minorch.toml, dags/good.toml (one valid DAG) and a short DAG file timeout (long
    enough for the first `from minorch import DAG` of a loader on a busy machine)."""
    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\ndag_file_timeout = "2s"\n')
    (tmp_path / "dags" / "good.toml").write_text(GOOD)
    return tmp_path


def write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)


def assert_one_clean_line(done: subprocess.CompletedProcess, line: str, exit_code: int, folder: Path) -> None:
    """stderr is exactly `line`, no traceback; the exit code is right; no state folder was made."""
    assert done.stderr.splitlines() == [line], done.stderr
    assert done.returncode == exit_code
    assert not (folder / ".minorch").exists()


# ---------------------------------------------------------------- bad input: one line each, others still load

BAD_DAG_FILES = {
    "toml syntax error": (
        "broken.toml",
        '[dags.broken]\nschedule = "@daily\n',
        "error: dags/broken.toml:2: TOML syntax error: a string is not closed before the end "
        'of the line (end it with the same quote it starts with: "...")',
    ),
    "self dependency": (
        "self.toml",
        '[dags.self.tasks.a]\ncommand = "true"\nafter = ["a"]\n',
        "error: dags/self.toml:3: task 'a' depends on itself (remove it from its own `after` list)",
    ),
    "three task cycle": (
        "cycle.toml",
        '[dags.cyc.tasks.a]\ncommand = "true"\nafter = ["c"]\n\n'
        '[dags.cyc.tasks.b]\ncommand = "true"\nafter = ["a"]\n\n'
        '[dags.cyc.tasks.c]\ncommand = "true"\nafter = ["b"]\n',
        "error: dags/cycle.toml:3: tasks depend on each other in a cycle: a -> b -> c -> a "
        "(remove 'c' from the `after` list of 'a', or another link)",
    ),
    "negative retries": (
        "ret.toml",
        '[dags.ret]\nretries = -1\n[dags.ret.tasks.a]\ncommand = "true"\n',
        "error: dags/ret.toml:2: retries must be 0 or more, not -1 (write e.g. retries = 2)",
    ),
    "duration in words": (
        "delay.toml",
        '[dags.delay.tasks.a]\ncommand = "true"\nretry_delay = "5 minutes"\n',
        "error: dags/delay.toml:3: retry_delay '5 minutes' is not a duration "
        '(write e.g. "45s", "5m", "1h30m" or "2d")',
    ),
    "minute 61": (
        "sched.toml",
        '[dags.sched]\nschedule = "61 * * * *"\n[dags.sched.tasks.a]\ncommand = "true"\n',
        "error: dags/sched.toml:2: schedule '61 * * * *': minute field: 61 is out of range 0-59 "
        '(write 5 fields "minute hour day month weekday" such as "30 2 * * *", or "@daily" or "every 10m")',
    ),
    "python raises": (
        "zero.py",
        "from minorch import DAG\n\nratio = 1 / 0\n",
        "error: dags/zero.py:3: ZeroDivisionError: division by zero (fix the error shown, then run `minorch validate`)",
    ),
    "python hangs": (
        "hang.py",
        "import time\nfrom minorch import DAG\nwhile True: time.sleep(1)\n",
        "error: dags/hang.py:3: did not finish loading within 2s "
        "(a DAG file must only define DAGs; move slow work into tasks)",
    ),
    "duplicate dag id": (
        "same.toml",
        '# a second good\n[dags.good.tasks.b]\ncommand = "true"\n',
        "error: dags/same.toml:2: DAG id 'good' is already defined in dags/good.toml:1 "
        "(rename one of them; DAG ids are unique across all files)",
    ),
    "not utf-8": (
        "latin.toml",
        b'[dags.latin]\ndescription = "caf\xe9"\n',
        "error: dags/latin.toml:2: not UTF-8 text (byte 0xe9) (save the file as UTF-8)",
    ),
}


@pytest.mark.parametrize("case", list(BAD_DAG_FILES))
def test_a_bad_dag_file_is_one_line_with_file_line_and_fix_and_the_other_dags_still_load(project, case):
    name, text, line = BAD_DAG_FILES[case]
    write(project / "dags" / name, text)
    done = minorch("validate", cwd=project)
    assert_one_clean_line(done, line, 1, project)
    assert done.stdout == "1 DAG, 1 task, 1 error\n"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            "",
            "minorch: error: minorch.toml:1: the file is empty "
            "(add a [minorch] table and DAGs; `minorch init` writes a starter file)",
        ),
        (
            "[minorch]\nparalelism = 2\n",
            "minorch: error: minorch.toml:2: unknown [minorch] option 'paralelism' (did you mean 'parallelism'?)",
        ),
    ],
)
def test_a_bad_minorch_toml_exits_2_with_one_line(project, text, line):
    write(project / "minorch.toml", text)
    done = minorch("-c", "minorch.toml", "validate", cwd=project)
    assert_one_clean_line(done, line, 2, project)
    assert done.stdout == ""


def test_version_names_minorch_python_and_sqlite_and_needs_no_project(tmp_path):
    done = minorch("--version", cwd=tmp_path)
    expected = f"minorch {__version__} (Python {platform.python_version()}, SQLite {sqlite3.sqlite_version})\n"
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    assert list(tmp_path.iterdir()) == []


def test_without_minorch_toml_validate_suggests_minorch_init(tmp_path):
    done = minorch("validate", cwd=tmp_path)
    assert_one_clean_line(
        done,
        f"minorch: error: no minorch.toml in {tmp_path.resolve()} or its parents "
        "(run `minorch init` to create one, or pass --config PATH)",
        2,
        tmp_path,
    )


def test_validate_warns_about_a_dag_folder_that_does_not_exist(project):
    write(project / "minorch.toml", '[minorch]\ndag_folders = ["dags", "flows"]\n')
    done = minorch("validate", cwd=project)
    assert done.stderr == (
        "warning: minorch.toml:2: DAG folder 'flows' does not exist (create it, or fix dag_folders)\n"
    )
    assert done.returncode == 0


def test_validate_json_lists_dags_errors_and_locations(project):
    write(project / "dags" / "bad.toml", '[dags.bad.tasks.a]\ncommand = "true"\nretries = "two"\n')
    done = minorch("validate", "--json", cwd=project)
    assert done.returncode == 1 and done.stderr == ""
    assert json.loads(done.stdout) == {
        "ok": False,
        "dags": ["good"],
        "warnings": [],
        "errors": [
            {
                "file": "dags/bad.toml",
                "line": 3,
                "message": "retries must be a whole number, not 'two'",
                "hint": "write e.g. retries = 1",
            }
        ],
    }


def test_validate_reports_a_bad_template_in_a_command(project):
    write(project / "dags" / "tpl.toml", '[dags.tpl.tasks.a]\ncommand = "echo {{ ds }"\n')
    done = minorch("validate", cwd=project)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: dags/tpl.toml:1: task 'a': ")


# ---------------------------------------------------------------- the happy path


def test_init_scaffolds_a_project_that_validates_and_refuses_to_overwrite_it(tmp_path):
    done = minorch("init", "proj", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "proj" / "minorch.toml").is_file() and (tmp_path / "proj" / "dags" / "hello.toml").is_file()
    checked = minorch("validate", cwd=tmp_path / "proj")
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "1 DAG, 2 tasks, 0 errors\n", "")
    again = minorch("init", "proj", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("minorch: error: proj/minorch.toml already exists")


def test_the_top_level_minorch_toml_loads_the_bundled_examples():
    done = minorch("validate", "--json", cwd=ROOT)
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["dags"] == [
        "after_pipeline",
        "branching",
        "customers_bronze",
        "customers_silver",
        "daily_pipeline",
        "disk_report",
        "example_task_group",
        "example_trigger_controller",
        "example_trigger_target",
        "mapping",
        "nightly_cleanup",
        "orders_bronze",
        "orders_mart",
        "orders_silver",
        "sales_report",
        "wait_for_file",
        "xcom",
    ]
    done = minorch("-c", "examples/assets_toml", "validate", "--json", cwd=ROOT)  # the TOML twin of orders.py
    assert done.returncode == 0, done.stdout
    assert json.loads(done.stdout)["dags"] == ["orders_bronze", "orders_mart", "orders_silver"]


def test_dags_lists_each_dag_with_schedule_tasks_and_file(project):
    write(
        project / "dags" / "flow.py",
        "from minorch import DAG, shell\n\nwith DAG('flow'):\n    shell('a', 'true') >> shell('b', 'true')\n",
    )
    done = minorch("dags", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    upcoming = datetime.fromisoformat(listed[1].pop("next_fire"))
    assert timedelta(0) < upcoming - datetime.now(timezone.utc) <= timedelta(days=1)
    assert (upcoming.hour, upcoming.minute) == (0, 0)
    assert listed == [
        {
            "dag_id": "flow",
            "schedule": "none",
            "description": None,
            "doc_md": None,
            "tasks": 2,
            "paused": False,
            "next_fire": None,
            "file": "dags/flow.py:3",
        },
        {
            "dag_id": "good",
            "schedule": "@daily",
            "description": None,
            "doc_md": None,
            "tasks": 1,
            "paused": False,
            "file": "dags/good.toml:1",
        },
    ]
    assert not (project / ".minorch").exists()
    table = minorch("dags", cwd=project).stdout.splitlines()
    assert table[0].split() == ["dag", "schedule", "tasks", "paused", "next", "run", "file"]
    name, schedule, tasks, paused, day, clock, offset, file = table[3].split()
    assert (name, schedule, tasks, paused, clock, offset, file) == (
        "good",
        "@daily",
        "1",
        "no",
        "00:00",
        "+00:00",
        "dags/good.toml:1",
    )


GRAPH = (
    '[dags.etl.tasks.extract]\ncommand = "true"\n[dags.etl.tasks.transform]\ncommand = "true"\n'
    'after = ["extract"]\n[dags.etl.tasks.load]\ncommand = "true"\nafter = ["transform", "extract"]\n'
    'trigger_rule = "all_done"\n'
)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "text",
            "etl  (manual only, 3 tasks)\nextract\n  transform  <- extract\n"
            "    load  <- transform, extract  [all_done]\n",
        ),
        (
            "dot",
            'digraph "etl" {\n  rankdir=LR;\n  "extract";\n  "transform";\n  "load";\n'
            '  "extract" -> "transform";\n  "transform" -> "load";\n  "extract" -> "load";\n}\n',
        ),
        (
            "mermaid",
            "flowchart LR\n  extract[extract]\n  transform[transform]\n  load[load]\n"
            "  extract --> transform\n  transform --> load\n  extract --> load\n",
        ),
    ],
)
def test_graph_prints_text_dot_and_mermaid(project, fmt, expected):
    write(project / "dags" / "etl.toml", GRAPH)
    done = minorch("graph", "etl", "--format", fmt, cwd=project)
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, "")
    assert not (project / ".minorch").exists()


def test_graph_json_lists_tasks_in_run_order_with_their_links_and_every_edge(project):
    write(project / "dags" / "etl.toml", GRAPH + '[dags.etl.tasks.load.labels]\nextract = "raw"\n')
    done = minorch("graph", "etl", "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["dag_id"] == "etl" and found["schedule"] == "none"
    assert [(t["task_id"], t["upstream"], t["downstream"], t["kind"]) for t in found["tasks"]] == [
        ("extract", [], ["load", "transform"], "shell"),
        ("transform", ["extract"], ["load"], "shell"),
        ("load", ["transform", "extract"], [], "shell"),
    ]
    assert found["tasks"][2]["trigger_rule"] == "all_done"
    assert found["edges"] == [
        {"from": "extract", "to": "transform", "label": None},
        {"from": "transform", "to": "load", "label": None},
        {"from": "extract", "to": "load", "label": "raw"},
    ]
    lineage = minorch("graph", "--assets", "--json", cwd=project)
    assert lineage.returncode == 0 and json.loads(lineage.stdout) == {"assets": []}
    missing = minorch("graph", "nope", "--json", cwd=project)
    assert missing.returncode == 2 and json.loads(missing.stdout)["error"]["message"] == "no DAG 'nope'"


def test_graph_of_an_unknown_dag_suggests_the_closest_and_exits_2(project):
    done = minorch("graph", "godo", cwd=project)
    assert_one_clean_line(done, "minorch: error: no DAG 'godo' (did you mean 'good'?)", 2, project)


def test_next_lists_fire_times_and_logical_dates_in_the_dag_timezone(project):
    write(
        project / "dags" / "berlin.toml",
        '[dags.berlin]\nschedule = "30 2 * * *"\ntimezone = "Europe/Berlin"\n[dags.berlin.tasks.a]\ncommand = "true"\n',
    )
    done = minorch("next", "berlin", "-n", "2", "--after", "2024-03-30T12:00", cwd=project)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()[2:]
    # 2024-03-31 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00): it fires at 03:00 local
    assert [r.split("  ")[0] for r in rows] == ["2024-03-31 03:00:00+02:00", "2024-04-01 02:30:00+02:00"]
    assert rows[1].split("  ")[1] == "2024-04-01 00:30:00+00:00"


def test_next_of_a_manual_dag_says_it_only_runs_when_triggered(project):
    write(project / "dags" / "manual.toml", '[dags.manual.tasks.a]\ncommand = "true"\n')
    done = minorch("next", "manual", cwd=project)
    assert done.stdout == "manual has no timed schedule (none): it runs only when triggered\n"


def test_commands_that_do_not_show_the_ui_never_import_textual(project):
    env = child_env()
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "minorch", "validate"],
        cwd=project,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0 and "minorch.cli" in done.stderr
    assert "textual" not in done.stderr and "sqlite_utils" not in done.stderr
