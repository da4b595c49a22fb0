"""No traceback from any value: every option × odd values, loaded and scheduled in-process (a
property-based test) and through `minorch validate` and `minorch up` (a fixed sample).

A value may be refused — with one line naming the file, the line and the option — or accepted;
then the DAG must survive a scheduler's start and its first steps. Nothing may raise anything
but MinorchError, and no command may print a traceback.
"""

from __future__ import annotations

import json
import math
import signal
import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from conftest import Project, wait_until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minorch.clock import FakeClock
from minorch.config import load_settings
from minorch.errors import MinorchError
from minorch.registry import load
from minorch.scheduler import Scheduler
from minorch.spec import DAG_KEYS, TASK_KEYS
from minorch.store import Store

SETTINGS_KEYS = (
    "timezone",
    "parallelism",
    "pools",
    "grace",
    "dag_file_timeout",
    "log_cap",
    "max_map_length",
    "metrics_port",
    "state_dir",
    "dag_folders",
)
DAG_ONLY = sorted(DAG_KEYS - {"tasks", "source_line", "groups"})
TASK_ONLY = sorted(TASK_KEYS - {"source_line"})


class Deep:
    """An inline table nested `levels` deep: {a = {a = ... {x = 1} ...}}."""

    def __init__(self, levels: int) -> None:
        self.levels = levels

    def __repr__(self) -> str:
        return f"Deep({self.levels})"


def deep(levels: int) -> Deep:
    return Deep(levels)


ODD = [
    0,
    -1,
    1,
    2**63 - 1,
    -(2**63),
    10**18,
    0.0,
    -0.0,
    1e-300,
    1e308,
    -1e308,
    math.inf,
    -math.inf,
    math.nan,
    0.5,
    True,
    False,
    "",
    " ",
    "x",
    "0",
    "-1",
    "3000000d",
    "1e308",
    "1e308s",
    "99999999999999999999w",
    "nan",
    "inf",
    "-5m",
    "9999-12-31T23:59:59",
    "0001-01-01",
    "1900-01-01",
    "2024-02-30",
    "@daily",
    "@reboot",
    "every 0s",
    "every 1e308s",
    "* * * * * * *",
    "61 * * * *",
    "none",
    "Europe/Nowhere",
    "../../etc/passwd",
    "-dash",
    "\u00e9t\u00e9",
    "a" * 300,
    "a\nb",
    "{{ undefined_name }}",
    "{% for x in range(10**9) %}x{% endfor %}",
    [],
    [1, 2],
    ["a", "b"],
    [[]],
    {},
    {"a": 1},
    {"command": "true"},
    deep(40),
    datetime(9999, 12, 31, 23, 59, 59),
    datetime(1, 1, 1),
    datetime(2024, 1, 1, tzinfo=timezone.utc),
    date(9999, 12, 31),
    date(1, 1, 1),
    time(12, 0),
]


def toml_value(value) -> str:
    """A Python value written as TOML (inline)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Deep):
        return "{a = " * value.levels + "{x = 1}" + "}" * value.levels
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def write_project(root: Path, where: str, key: str, value) -> None:
    line = f"{key} = {toml_value(value)}"
    config = '[minorch]\nstate_dir = ".minorch"\ndag_folders = ["dags"]\ngrace = "0.2s"\n'
    dag = '[dags.fuzz]\nschedule = "@hourly"\nstart_date = "2024-01-01"\n'
    task = '[dags.fuzz.tasks.work]\ncommand = "true"\n'
    if where == "minorch":
        config = config.replace(f'{key} = "0.2s"\n', "").replace(f'{key} = ".minorch"\n', "")
        config = config.replace(f'{key} = ["dags"]\n', "") + line + "\n"
    elif where == "defaults":
        config += f"[defaults]\n{line}\n"
    elif where == "dag":
        dag = "\n".join(x for x in dag.splitlines() if not x.startswith(f"{key} =")) + f"\n{line}\n"
    else:
        task = "\n".join(x for x in task.splitlines() if not x.startswith(f"{key} =")) + f"\n{line}\n"
    (root / "dags").mkdir(exist_ok=True)
    (root / "minorch.toml").write_text(config)
    (root / "dags" / "fuzz.toml").write_text(dag + task)
    (root / "dags" / "other.toml").write_text('[dags.other]\n[dags.other.tasks.ok]\ncommand = "true"\n')


def load_and_schedule(root: Path, where: str) -> None:
    """Load the project and run a scheduler's start and first steps on a fake clock. Raises only
    MinorchError (a refused value); an error in the fuzzed DAG must not hide the other DAG."""
    try:
        project_settings = load_settings(root / "minorch.toml")
    except MinorchError as err:
        assert "minorch.toml:" in str(err) and "\n" not in str(err), str(err)
        return
    registry = load(project_settings)
    for err in registry.errors:
        assert "\n" not in str(err) and ":" in str(err), str(err)
    if where in ("dag", "task"):
        assert "other" in registry.dags, [str(e) for e in registry.errors]
    project_settings.state_dir = root / ".minorch"
    store = Store(project_settings.db_path)
    clock = FakeClock(datetime(2024, 3, 1, 12, 0, tzinfo=timezone.utc))
    sched = Scheduler(project_settings, store, registry=registry, clock=clock)
    try:
        sched.recover()
        for _ in range(3):
            sched.step()
            clock.advance(3600)
        sched.kill_running("the test ended")
    finally:
        sched.close()
        store.close()


PLACES = (
    [("minorch", k) for k in SETTINGS_KEYS]
    + [("defaults", k) for k in TASK_ONLY if k in DAG_KEYS]
    + [("dag", k) for k in DAG_ONLY]
    + [("task", k) for k in TASK_ONLY]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(PLACES), value=st.sampled_from(ODD))
def test_no_option_value_raises_anything_but_a_one_line_error_in_process(place, value):
    with tempfile.TemporaryDirectory() as folder:
        write_project(Path(folder), *place, value)
        load_and_schedule(Path(folder), place[0])


SAMPLE = [
    ("dag", "schedule", 5),
    ("dag", "schedule", timedelta(hours=1)),
    ("task", "retry_delay", "3000000d"),
    ("task", "timeout", 1e308),
    ("dag", "dagrun_timeout", 1e308),
    ("dag", "start_date", "9999-12-31T23:59:59"),
    ("dag", "start_date", datetime(1, 1, 1)),
    ("task", "params", deep(400)),
    ("task", "params", deep(100)),
    ("minorch", "grace", 1e308),
    ("minorch", "parallelism", 10**18),
]


@pytest.mark.parametrize("where,key,value", SAMPLE, ids=[f"{w}.{k}={v!r:.20}" for w, k, v in SAMPLE])
def test_validate_and_up_print_no_traceback_for_odd_values(tmp_path, up_processes, where, key, value):
    if isinstance(value, timedelta):  # not TOML: a Python DAG file
        (tmp_path / "dags").mkdir()
        write_project(tmp_path, "task", "retries", 0)
        (tmp_path / "dags" / "fuzz.toml").unlink()
        (tmp_path / "dags" / "fuzz.py").write_text(
            "from datetime import timedelta\nfrom minorch import DAG, shell\n"
            "with DAG('fuzz', schedule=timedelta(hours=1)):\n    shell('work', 'true')\n"
        )
    else:
        write_project(tmp_path, where, key, value)
    project = Project(tmp_path)
    checked = project.minorch("validate")
    assert "Traceback" not in checked.stderr + checked.stdout
    assert checked.returncode in (0, 1, 2), checked.stderr
    up = up_processes(project)
    # It refuses the value and ends, or starts: then it is stopped once it said it is ready (its signal
    # handlers are set by then; a SIGTERM while it still loads, on a busy machine, would just kill it).
    assert wait_until(lambda: up.proc.poll() is not None or any(e.get("event") == "ready" for e in up.events), 60)
    if up.proc.poll() is None:
        assert up.signal(signal.SIGTERM) == 0
    up.proc.wait(10)
    output = "\n".join(str(e.get("message")) + str(e.get("exception", "")) for e in up.events) + "".join(up.stderr)
    assert "Traceback" not in output, output
    assert up.proc.returncode in (0, 2), output
