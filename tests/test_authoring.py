"""Authoring depth with real processes and a real state file: sensors, branching,
short-circuits and results passed between tasks (XCom).

Most tests run one DAG in the foreground in this process (`project.run`, as `minorch run`
does). Sensors that wait for a time use a scheduler on a `FakeClock` instead, stepped by
hand, so no test waits for the clock.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from minorch.clock import FakeClock
from minorch.scheduler import Scheduler
from minorch.states import RunState, TaskState
from minorch.store import Store

ROOT = Path(__file__).resolve().parent.parent


def states(result) -> dict[str, str]:
    return {tid: ti.state.value for tid, ti in result.tis.items()}


def log_of(result, task_id: str, try_index: int = -1) -> str:
    return Path(result.attempts[task_id][try_index].log_path).read_text()


def said(project, task_id: str, state: str) -> bool:
    """Did the latest run print an event line `<dag>.<task_id>: <state>`?"""
    return any(f".{task_id}: {state}" in line for line in project.lines)


@contextmanager
def stepped(project, now: datetime):
    """A scheduler on a FakeClock at `now`, for `step()` by hand: yields (scheduler, clock, store)."""
    settings = project.settings()
    store = Store(settings.db_path)
    clock = FakeClock(now)
    sched = Scheduler(settings, store, clock=clock)
    try:
        yield sched, clock, store
    finally:
        sched.close()
        store.close()


def set_parallelism(project, slots: int) -> None:
    config = project.root / "minorch.toml"
    config.write_text(config.read_text().replace("parallelism = 4", f"parallelism = {slots}"))


def instances(store: Store, pk: int) -> dict:
    return store.task_instances([pk])[pk]


# ---------------------------------------------------------------- sensors: what they wait for


def test_a_file_sensor_waits_for_a_glob_that_matches_later_then_its_downstream_runs(project):
    project.write(
        "dags/inbox.toml",
        """
        [dags.inbox.tasks.wait]
        sensor = { file = "inbox/{{ ds }}/*.csv" }
        poke_interval = "0.1s"
        timeout = "20s"

        [dags.inbox.tasks.deliver]
        command = "sleep 0.4; mkdir -p inbox/{{ ds }}; touch inbox/{{ ds }}/orders.csv"

        [dags.inbox.tasks.process]
        command = "ls inbox/{{ ds }}"
        after = ["wait"]
    """,
    )
    result = project.run("inbox")
    assert states(result) == {"wait": "success", "deliver": "success", "process": "success"}
    assert said(project, "wait", "up_for_reschedule")
    assert result.tis["wait"].note == "found 1 file(s) matching inbox/2024-01-15/*.csv"
    assert "wait" not in result.attempts  # poked by the scheduler itself: no process, no try
    # process waits only for the sensor, which saw the file deliver made after its 0.4 s sleep (maybe a
    # moment before deliver's own end was recorded)
    assert result.attempts["process"][0].start_date >= result.attempts["deliver"][0].start_date + 0.4
    assert log_of(result, "process") == "orders.csv\n"


def test_a_file_sensor_on_an_absolute_path_that_exists_succeeds_at_its_first_poke(project, tmp_path):
    (tmp_path / "ready.flag").write_text("")
    project.write(
        "dags/flag.toml",
        f"""
        [dags.flag.tasks.wait]
        sensor = {{ file = "{tmp_path}/*.flag" }}
    """,
    )
    result = project.run("flag")
    assert states(result) == {"wait": "success"}
    assert not said(project, "wait", "up_for_reschedule")


def test_a_time_sensor_whose_time_has_passed_succeeds_at_once(project):
    project.write(
        "dags/morning.toml",
        """
        [dags.morning.tasks.not_before_six]
        sensor = { until = "{{ ds }}T06:00" }
    """,
    )
    result = project.run("morning")
    assert states(result) == {"not_before_six": "success"}
    assert result.tis["not_before_six"].note == "reached 2024-01-15T06:00:00+00:00"


def test_a_time_sensor_waits_without_a_process_until_its_time_and_looks_again_exactly_then(project):
    project.write(
        "dags/morning.toml",
        """
        [dags.morning]
        timezone = "Europe/Berlin"

        [dags.morning.tasks.not_before_six]
        sensor = { until = "{{ ds }}T06:00" }
        poke_interval = "2h"
    """,
    )
    six_in_berlin = datetime(2024, 1, 15, 5, 0, tzinfo=timezone.utc)
    with stepped(project, datetime(2024, 1, 15, 3, 30, tzinfo=timezone.utc)) as (sched, clock, store):
        dag = sched.dags["morning"]
        pk, _ = sched.create_run(
            dag, datetime(2024, 1, 15, tzinfo=ZoneInfo("Europe/Berlin")), "manual", now=clock.now(), logical=True
        )
        sched.step({pk})
        waiting = instances(store, pk)["not_before_six"]
        assert waiting.state is TaskState.UP_FOR_RESCHEDULE
        assert waiting.next_try_at == six_in_berlin.timestamp()  # sooner than 2 h: the time itself
        assert waiting.note == "waiting until 2024-01-15T06:00:00+01:00"
        assert sched.inflight == {}
        assert sched.step({pk}) == six_in_berlin  # the loop sleeps until then
        clock.advance(3600)
        sched.step({pk})
        assert instances(store, pk)["not_before_six"].state is TaskState.UP_FOR_RESCHEDULE
        clock.advance(1800)
        sched.step({pk})
        assert instances(store, pk)["not_before_six"].state is TaskState.SUCCESS


def test_poke_interval_sets_when_a_waiting_sensor_is_poked_again(project):
    project.write(
        "dags/morning.toml",
        """
        [dags.morning.tasks.noon]
        sensor = { until = "{{ ds }}T12:00" }
        poke_interval = "5m"
    """,
    )
    start = datetime(2024, 1, 15, 9, 0, tzinfo=timezone.utc)
    with stepped(project, start) as (sched, clock, store):
        pk, _ = sched.create_run(
            sched.dags["morning"], datetime(2024, 1, 15, tzinfo=timezone.utc), "manual", now=start, logical=True
        )
        sched.step({pk})
        assert instances(store, pk)["noon"].next_try_at == start.timestamp() + 300
        clock.advance(299)
        sched.step({pk})
        assert instances(store, pk)["noon"].next_try_at == start.timestamp() + 300  # not due: not poked
        clock.advance(1)
        sched.step({pk})
        assert instances(store, pk)["noon"].next_try_at == start.timestamp() + 600


def test_a_dag_sensor_waits_for_another_dags_task_to_succeed_for_the_same_day(project):
    project.write(
        "dags/pair.toml",
        """
        [dags.pipeline]
        schedule = "@hourly"

        [dags.pipeline.tasks.load]
        command = "true"

        [dags.report.tasks.pipeline_loaded]
        sensor = { dag = "pipeline", task = "load" }
        poke_interval = "0.1s"
        timeout = "0.5s"

        [dags.report.tasks.send]
        command = "true"
        after = ["pipeline_loaded"]
    """,
    )
    assert project.run("pipeline", date="2024-01-15T05:00").run.state is RunState.SUCCESS
    same_day = project.run("report", date="2024-01-15")
    assert states(same_day) == {"pipeline_loaded": "success", "send": "success"}
    assert same_day.tis["pipeline_loaded"].note == "pipeline.load succeeded for 2024-01-15"
    next_day = project.run("report", date="2024-01-16")
    assert states(next_day) == {"pipeline_loaded": "failed", "send": "upstream_failed"}
    assert next_day.tis["pipeline_loaded"].note == (
        "sensor timed out: waiting for pipeline.load to succeed for 2024-01-16"
    )


COMMAND_SENSOR = """
    [dags.ready.tasks.wait]
    sensor = { command = "test -f ready.flag" }
    poke_interval = "0.2s"
    timeout = "20s"

    [dags.ready.tasks.make_ready]
    command = "sleep 0.3; touch ready.flag"
"""


def test_a_command_sensor_pokes_as_short_tries_and_frees_its_slot_between_them(project):
    set_parallelism(project, 1)
    project.write("dags/ready.toml", COMMAND_SENSOR)
    result = project.run("ready")
    assert states(result) == {"wait": "success", "make_ready": "success"}
    pokes = result.attempts["wait"]
    assert len(pokes) >= 2
    assert [p.exit_code for p in pokes] == [1] * (len(pokes) - 1) + [0]
    for before, after in zip(pokes, pokes[1:], strict=False):
        assert after.end_date - before.end_date >= 0.2 - 0.01  # poke_interval between pokes
    assert said(project, "wait", "up_for_reschedule")
    maker = result.attempts["make_ready"][0]  # it ran while the sensor waited: the one slot was free
    assert pokes[0].end_date <= maker.start_date and maker.end_date <= pokes[-1].end_date


def test_each_poke_of_a_command_sensor_records_when_that_poke_started(project):
    project.write("dags/ready.toml", COMMAND_SENSOR)
    pokes = project.run("ready").attempts["wait"]
    assert all(after.start_date >= before.end_date for before, after in zip(pokes, pokes[1:], strict=False))


def test_the_python_api_makes_sensors_of_every_kind(project):
    project.write(
        "dags/api.py",
        """
        from minorch import DAG, shell
        from minorch.dag import sensor

        with DAG("api"):
            files = sensor("files", file="in/*.csv", poke_interval="0.1s", timeout="20s")
            clock = sensor("clock", until="{{ ds }}T06:00")
            ready = sensor("ready", command="test -d in", poke_interval="0.1s", timeout="20s")
            shell("put", "mkdir -p in; touch in/a.csv")
            [files, clock, ready] >> shell("use", "true")
    """,
    )
    result = project.run("api")
    assert states(result) == {
        "files": "success",
        "clock": "success",
        "ready": "success",
        "put": "success",
        "use": "success",
    }
    assert {tid: ti.kind for tid, ti in result.dag.tasks.items()} == {
        "files": "sensor",
        "clock": "sensor",
        "ready": "sensor",
        "put": "shell",
        "use": "shell",
    }


def test_sensor_is_part_of_the_public_api():
    from minorch import sensor  # noqa: F401


# ---------------------------------------------------------------- sensors: timeouts and soft_fail


def test_a_sensor_that_times_out_fails_and_with_soft_fail_is_skipped_with_its_downstream(project):
    project.write(
        "dags/late.toml",
        """
        [dags.late]
        poke_interval = "0.1s"
        timeout = "0.4s"

        [dags.late.tasks.hard]
        sensor = { file = "never/{{ ds }}.csv" }

        [dags.late.tasks.after_hard]
        command = "true"
        after = ["hard"]

        [dags.late.tasks.soft]
        sensor = { file = "never/{{ ds }}.csv" }
        soft_fail = true

        [dags.late.tasks.after_soft]
        command = "true"
        after = ["soft"]

        [dags.late.tasks.cleanup]
        command = "true"
        after = ["soft"]
        trigger_rule = "all_done"

        [dags.late.tasks.ready]
        sensor = { command = "false" }
    """,
    )
    result = project.run("late")
    assert states(result) == {
        "hard": "failed",
        "after_hard": "upstream_failed",
        "soft": "skipped",
        "after_soft": "skipped",
        "cleanup": "success",
        "ready": "failed",
    }
    assert result.run.state is RunState.FAILED
    assert result.tis["hard"].note == "sensor timed out: waiting for a file matching never/2024-01-15.csv"
    assert result.tis["soft"].note == "sensor timed out (soft_fail): waiting for a file matching never/2024-01-15.csv"
    assert result.tis["ready"].note == "sensor timed out; last poke exited with code 1"
    waited = result.tis["hard"].end_date - result.tis["hard"].start_date
    assert 0.4 <= waited < 2.0


def test_a_hundred_waiting_sensors_do_not_block_other_tasks_with_parallelism_two(project):
    set_parallelism(project, 2)
    sensors = "".join(
        f"""
        [dags.crowd.tasks.wait{i:03}]
        sensor = {{ file = "never/{{{{ ds }}}}/{i}.csv" }}
    """
        for i in range(100)
    )
    shells = "".join(
        f"""
        [dags.crowd.tasks.work{i:02}]
        command = "true"
    """
        for i in range(20)
    )
    project.write(
        "dags/crowd.toml",
        """
        [dags.crowd]
        poke_interval = "1s"
        timeout = "3s"
        soft_fail = true
    """
        + sensors
        + shells,
    )
    started = time.monotonic()
    result = project.run("crowd")
    elapsed = time.monotonic() - started
    work = [result.attempts[f"work{i:02}"][0] for i in range(20)]
    assert all(result.tis[f"work{i:02}"].state is TaskState.SUCCESS for i in range(20))
    assert all(result.tis[f"wait{i:03}"].state is TaskState.SKIPPED for i in range(100))
    last_end = max(a.end_date for a in work)
    sensors_gave_up = min(result.tis[f"wait{i:03}"].end_date for i in range(100))
    print(
        f"\n20 shell tasks beside 100 waiting sensors (parallelism 2): all done "
        f"{last_end - result.run.start_date:.2f}s after the run started; whole run {elapsed:.2f}s"
    )
    assert last_end < sensors_gave_up  # every shell task finished while all 100 sensors still waited
    assert last_end - result.run.start_date < 2.5


# ---------------------------------------------------------------- sensors in `minorch validate`

BAD_SENSORS = {  # DAG id: (task table body, line of the error, message)
    "two_things": (
        'sensor = { file = "x", until = "{{ ds }}T06:00" }',
        2,
        "sensor 'wait' must wait for exactly one thing",
    ),
    "typo": ('sensor = { fiel = "in/*.csv" }', 2, "unknown sensor key 'fiel' (did you mean 'file'?)"),
    "dag_only": ('sensor = { dag = "pipeline" }', 2, "sensor 'wait' must wait for exactly one thing"),
    "not_table": ('sensor = "in/*.csv"', 2, "sensor must be a table, not 'in/*.csv'"),
    "empty": ('sensor = { file = "" }', 2, "sensor 'wait': values must be non-empty strings"),
    "interval": ('sensor = { file = "x" }\npoke_interval = "soon"', 3, "poke_interval 'soon' is not a duration"),
    "soft": ('sensor = { file = "x" }\nsoft_fail = "yes"', 3, "soft_fail must be true or false, not 'yes'"),
}


def test_validate_reports_each_bad_sensor_in_one_line_with_file_and_line(project):
    for name, (body, _, _) in BAD_SENSORS.items():
        project.write(f"dags/{name}.toml", f"[dags.{name}.tasks.wait]\n{body}\n")
    done = project.minorch("validate")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == len(BAD_SENSORS), done.stderr
    for name, (_, number, message) in BAD_SENSORS.items():
        line = next(line for line in lines if f"dags/{name}.toml:" in line)
        assert line.startswith(f"error: dags/{name}.toml:{number}: "), line
        assert message in line
    assert "Traceback" not in done.stderr


def test_validate_reports_an_unknown_template_name_in_a_sensor(project):
    project.write(
        "dags/typo.toml",
        """
        [dags.typo.tasks.wait]
        sensor = { file = "in/{{ dss }}.csv" }
    """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1 and "unknown template variable 'dss'" in done.stderr


def test_a_sensor_whose_template_or_time_is_wrong_fails_at_its_first_poke_saying_why(project):
    project.write(
        "dags/typo.toml",
        """
        [dags.typo]
        poke_interval = "0.1s"
        timeout = "5s"

        [dags.typo.tasks.wait]
        sensor = { file = "in/{{ dss }}.csv" }

        [dags.typo.tasks.later]
        sensor = { until = "{{ ds }} at six" }
    """,
    )
    result = project.run("typo")
    assert states(result) == {"wait": "failed", "later": "failed"}
    assert all(ti.end_date - ti.start_date < 1.0 for ti in result.tis.values())
    assert result.tis["wait"].note.startswith("sensor cannot check its condition: unknown template variable 'dss'")
    assert result.tis["later"].note.startswith(
        "sensor cannot check its condition: until '2024-01-15 at six' is not a date"
    )


# ---------------------------------------------------------------- branching

BRANCHING = """
    from minorch import DAG, shell, task

    with DAG("choose"):

        @task.branch
        def pick(params):
            return params["follow"]

        left, right = shell("left", "echo left"), shell("right", "echo right")
        left_after, right_after = shell("left_after", "true"), shell("right_after", "true")
        join = shell("join", "echo join", trigger_rule="none_failed_min_one_success")
        pick() >> [left, right]
        left >> left_after
        right >> right_after
        [left_after, right_after] >> join
"""


@pytest.mark.parametrize(
    "follow, expected",
    [
        (
            "left",
            {
                "left": "success",
                "left_after": "success",
                "right": "skipped",
                "right_after": "skipped",
                "join": "success",
            },
        ),
        (
            ["left", "right"],
            {
                "left": "success",
                "left_after": "success",
                "right": "success",
                "right_after": "success",
                "join": "success",
            },
        ),
        (
            None,
            {
                "left": "skipped",
                "left_after": "skipped",
                "right": "skipped",
                "right_after": "skipped",
                "join": "skipped",
            },
        ),
    ],
    ids=["one id", "a list", "None"],
)
def test_a_branch_follows_the_tasks_it_returns_and_the_rest_follow_their_trigger_rules(project, follow, expected):
    project.write("dags/choose.py", BRANCHING)
    result = project.run("choose", params={"follow": follow})
    assert states(result) == {"pick": "success", **expected}
    assert result.run.state is RunState.SUCCESS
    skipped = [tid for tid, state in expected.items() if state == "skipped"]
    assert not set(skipped) & set(result.attempts)
    if "right" in skipped:
        assert result.tis["right"].note == "not chosen by branch 'pick'"


def test_a_branch_returning_a_task_it_cannot_choose_fails_with_a_clear_message(project):
    project.write("dags/choose.py", BRANCHING)
    result = project.run("choose", params={"follow": "join"})
    assert states(result) == {
        "pick": "failed",
        "left": "upstream_failed",
        "right": "upstream_failed",
        "left_after": "upstream_failed",
        "right_after": "upstream_failed",
        "join": "upstream_failed",
    }
    assert result.tis["pick"].note == (
        "branch chose 'join', which is not directly downstream of 'pick' (choose from: left, right)"
    )
    assert any("choose.pick: failed" in line and "branch chose 'join'" in line for line in project.lines)


def test_the_branching_example_follows_the_weekday(project):
    project.write("dags/branching.py", (ROOT / "examples/patterns/branching.py").read_text())
    monday = project.run("branching", date="2024-01-15")
    assert states(monday) == {
        "check_day": "success",
        "full_load": "success",
        "light_load": "skipped",
        "report": "success",
        "has_new_data": "success",
        "transform": "success",
        "publish": "success",
    }
    saturday = project.run("branching", date="2024-01-13", params={"rows": 0})
    assert states(saturday) == {
        "check_day": "success",
        "full_load": "skipped",
        "light_load": "success",
        "report": "success",
        "has_new_data": "success",
        "transform": "skipped",
        "publish": "skipped",
    }


# ---------------------------------------------------------------- short-circuit

SHORT_CIRCUIT = """
    from minorch import DAG, shell, task

    with DAG("gate"):

        @task.short_circuit
        def has_rows(params):
            return params["rows"]

        transform = shell("transform", "true")
        audit = shell("audit", "true", trigger_rule="all_done")
        other = shell("other", "true")
        has_rows() >> transform >> shell("publish", "true") >> audit
        [transform, other] >> shell("summary", "true", trigger_rule="none_failed")
"""


def test_a_falsy_short_circuit_skips_everything_downstream_even_all_done_tasks(project):
    project.write("dags/gate.py", SHORT_CIRCUIT)
    result = project.run("gate", params={"rows": 0})
    assert states(result) == {
        "has_rows": "success",
        "transform": "skipped",
        "publish": "skipped",
        "audit": "skipped",
        "other": "success",
        "summary": "skipped",
    }
    assert result.run.state is RunState.SUCCESS
    assert result.tis["audit"].note == "not chosen by short-circuit 'has_rows'"


def test_a_truthy_short_circuit_lets_everything_run(project):
    project.write("dags/gate.py", SHORT_CIRCUIT)
    result = project.run("gate", params={"rows": 3})
    assert set(states(result).values()) == {"success"}


ALWAYS = """
    import time
    from minorch import DAG, shell, task

    with DAG("gate"):

        @task.short_circuit
        def slow_gate():
            time.sleep(0.3)
            return False

        slow_gate() >> shell("always", "echo ran", trigger_rule="always")
"""


def test_a_task_with_trigger_rule_always_does_not_wait_for_a_short_circuit_and_is_not_skipped_by_it(project):
    project.write("dags/gate.py", ALWAYS)
    result = project.run("gate")
    assert states(result) == {"slow_gate": "success", "always": "success"}
    assert log_of(result, "always") == "ran\n"


def test_a_short_circuit_reports_as_skipped_only_the_tasks_it_skipped(project):
    project.write("dags/gate.py", ALWAYS)
    project.run("gate")
    assert not said(project, "always", "skipped")


# ---------------------------------------------------------------- branch and short-circuit in TOML


def test_toml_python_tasks_can_branch_and_short_circuit(project):
    project.write(
        "decide.py",
        """
        def pick(ds):
            return "even" if int(ds[-1]) % 2 == 0 else "odd"

        def nothing_new():
            return []
    """,
    )
    project.write(
        "dags/decide.toml",
        """
        [dags.decide.tasks.pick]
        python = "decide:pick"
        branch = true

        [dags.decide.tasks.even]
        command = "true"
        after = ["pick"]

        [dags.decide.tasks.odd]
        command = "true"
        after = ["pick"]

        [dags.decide.tasks.check]
        python = "decide:nothing_new"
        short_circuit = true

        [dags.decide.tasks.load]
        command = "true"
        after = ["check"]
    """,
    )
    result = project.run("decide", date="2024-01-15")
    assert states(result) == {
        "pick": "success",
        "even": "skipped",
        "odd": "success",
        "check": "success",
        "load": "skipped",
    }


def test_branch_on_a_command_task_is_a_one_line_error_at_its_line(project):
    project.write(
        "dags/shellbranch.toml",
        """
        [dags.shellbranch.tasks.pick]
        command = "echo left"
        branch = true
    """,
    )
    done = project.minorch("validate")
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error: dags/shellbranch.toml:4: branch works on Python tasks: its return value decides "
        '(write python = "module:function" (or use @task.branch in a Python DAG file))'
    ]


# ---------------------------------------------------------------- XCom


def test_the_xcom_example_passes_results_by_parameter_by_template_and_as_a_path(project):
    project.write("dags/xcom.py", (ROOT / "examples/patterns/xcom.py").read_text())
    result = project.run("xcom")
    assert set(states(result).values()) == {"success"}, states(result)
    store = project.store()
    try:
        results = store.xcoms(result.run.pk, ["extract", "summarize", "export_events", "count_events"])
    finally:
        store.close()
    rows = [{"city": "Oslo", "orders": 15}, {"city": "Lima", "orders": 30}, {"city": "Pune", "orders": 45}]
    assert results["extract"] == rows
    assert results["summarize"] == {"cities": 3, "orders": 90}
    assert log_of(result, "announce") == f"extracted {json.dumps(rows)}\n"
    big = Path(results["export_events"])
    assert big.is_absolute() and big.stat().st_size > 64 * 1024
    assert results["count_events"] == 6667


def test_results_reach_python_parameters_the_xcom_dict_and_templates_of_direct_downstream_tasks(project):
    project.write(
        "dags/flow.py",
        """
        from minorch import DAG, shell, task

        with DAG("flow"):

            @task
            def produce():
                return [1, 2, 3]

            @task
            def nothing():
                print("no result")

            @task
            def total(xcom):
                return sum(xcom["produce"])

            @task
            def consume(numbers, missing, ds):
                print(sum(numbers), missing, ds)

            numbers = produce()
            consume(numbers=numbers, missing=nothing())
            numbers >> total()
            numbers >> shell("show", "echo {{ xcom.produce }} {{ xcom.produce[1] }}")
            numbers >> shell("not_upstream", "echo {{ xcom.nothing }}")
    """,
    )
    result = project.run("flow")
    assert log_of(result, "consume") == "6 None 2024-01-15\n"
    store = project.store()
    try:
        assert store.xcoms(result.run.pk, ["total", "nothing"]) == {"total": 6}
    finally:
        store.close()
    assert log_of(result, "show") == "[1, 2, 3] 2\n"
    assert result.tis["not_upstream"].state is TaskState.FAILED
    log = log_of(result, "not_upstream")
    assert "unknown template variable 'xcom.nothing'" in log and "results of upstream tasks: produce" in log


def test_a_result_that_is_too_big_or_not_json_fails_its_task_with_the_fix_in_the_log(project):
    project.write(
        "dags/bad.py",
        """
        from datetime import date
        from minorch import DAG, shell, task

        with DAG("bad"):

            @task
            def too_big():
                return "x" * 70_000

            @task
            def a_date():
                return date(2024, 1, 15)

            too_big() >> shell("after_big", "true")
            a_date()
    """,
    )
    result = project.run("bad")
    assert states(result) == {"too_big": "failed", "after_big": "upstream_failed", "a_date": "failed"}
    assert log_of(result, "too_big").splitlines()[-1] == (
        "minorch: task returned 69 KB, over the 64 KB limit for results; write it to a file and return the path"
    )
    assert log_of(result, "a_date").splitlines()[-1] == (
        "minorch: task returned a date, which cannot be stored as JSON; "
        "return a list, dict, str or number — or write big data to a file and return its path"
    )
