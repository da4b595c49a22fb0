"""Assets with real processes and real SQLite files: events only on success, consumers started by
events (from tasks and from `minorch asset emit`), per-day backfills downstream, `@asset`, and
SIGKILL of the scheduler between a producer's end and its consumer's run."""

from __future__ import annotations

import json
import signal
import time

from conftest import wait_until

from minorch.states import RunState

PRODUCER = """\
[assets.feed]
description = "announced from outside"

[dags.producer]
[dags.producer.tasks.ok]
command = "echo made"
outlets = ["a"]
[dags.producer.tasks.bad]
command = "exit 1"
outlets = ["b"]
[dags.producer.tasks.skip]
command = "exit 99"
outlets = ["c"]

[dags.consumer]
schedule = { assets = "a & (b | c)" }
[dags.consumer.tasks.use]
command = "echo used"
"""


def runs_of(store, dag_id: str) -> list:
    return store.runs(dag_id, limit=None)


def test_an_event_is_recorded_only_when_the_task_succeeds_and_is_queued_for_its_consumer(project):
    project.write("dags/p.toml", PRODUCER)
    result = project.run("producer")
    assert result.run.state is RunState.FAILED
    store = project.store()
    events = {name: store.asset_events(name) for name in "abc"}
    assert [len(events[n]) for n in "abc"] == [1, 0, 0]  # the failed and the skipped task made none
    event = events["a"][0]
    assert (event.ds, event.dag_id, event.task_id, event.run_id) == ("2024-01-15", "producer", "ok", result.run.run_id)
    assert [(q.asset, q.event_id) for q in store.asset_queue()["consumer"]] == [("a", event.id)]
    assert runs_of(store, "consumer") == []  # a & (b | c) is not met by a alone


def test_emit_while_up_runs_starts_the_waiting_dag_within_a_second(project, up_processes):
    project.write("dags/p.toml", PRODUCER.replace('assets = "a & (b | c)"', 'assets = "feed"'))
    up = up_processes(project)
    up.ready()
    store = project.store()
    started = time.monotonic()
    emitted = project.minorch("asset", "emit", "feed", "--ds", "2024-02-01", "--extra", '{"rows": 3}')
    assert emitted.returncode == 0, emitted.stderr
    assert "the running scheduler acts on it" in emitted.stdout
    emitted_at = time.monotonic()
    run = wait_until(lambda: runs_of(store, "consumer"), timeout=5, every=0.005)
    created = time.monotonic()
    assert run and run[0].run_type == "asset_triggered"
    assert created - emitted_at < 1.0, f"consumer run created {created - emitted_at:.2f}s after emit returned"
    assert wait_until(lambda: store.run(run[0].pk).state.finished, timeout=10)
    [event] = store.run_asset_events(run[0].pk)
    assert (event.asset, event.ds, event.extra) == ("feed", "2024-02-01", {"rows": 3})
    assert started  # emit itself (a CLI start) is not counted in the second
    up.kill()


def test_emit_refuses_unknown_assets_and_bad_days_with_one_line(project):
    project.write("dags/p.toml", PRODUCER)
    wrong = project.minorch("asset", "emit", "fed")
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == "minorch: error: no asset 'fed' (did you mean 'feed'?)"
    bad_day = project.minorch("asset", "emit", "feed", "--ds", "15.01.2024")
    assert bad_day.returncode == 2 and "--ds '15.01.2024' is not a day" in bad_day.stderr


ASSET_DAGS = """\
import json
from pathlib import Path

from minorch import asset


@asset(schedule="@daily")
def bronze(ds):
    with open("ledger", "a") as f:
        f.write(f"bronze {ds}\\n")
    return {"day": ds, "rows": int(ds[-2:])}


@asset(match="ds")
def silver(bronze, ds, triggering_events):
    with open("ledger", "a") as f:
        f.write(f"silver {ds} {bronze['rows']} {len(triggering_events)}\\n")
    return {"rows": bronze["rows"] * 2}


@asset(match="ds")
def gold(silver, ds):
    with open("ledger", "a") as f:
        f.write(f"gold {ds} {silver['rows']}\\n")
"""


def test_a_backfill_of_fourteen_days_remakes_every_asset_downstream_once_per_day(project, up_processes):
    project.write("dags/assets.py", ASSET_DAGS)
    checked = project.minorch("validate")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    filled = project.minorch("backfill", "bronze", "--start", "2024-01-01", "--end", "2024-01-14")
    assert filled.returncode == 0, filled.stderr
    up = up_processes(project)
    days = [f"2024-01-{d:02d}" for d in range(1, 15)]
    ledger = project.root / "ledger"

    def lines() -> list[str]:
        return ledger.read_text().splitlines() if ledger.exists() else []

    assert wait_until(lambda: sum(line.startswith("gold") for line in lines()) >= 14, timeout=60), lines()
    time.sleep(1.0)  # anything extra would show up now
    up.kill()
    found = lines()
    assert sorted(x for x in found if x.startswith("silver")) == [f"silver {d} {int(d[-2:])} 1" for d in days]
    assert sorted(x for x in found if x.startswith("gold")) == [f"gold {d} {int(d[-2:]) * 2}" for d in days]
    store = project.store()
    for dag_id in ("silver", "gold"):
        runs = runs_of(store, dag_id)
        assert sorted(r.logical_date[:10] for r in runs) == days, dag_id  # one run per day, each its own day
        assert all(r.state is RunState.SUCCESS for r in runs)
    assert store.asset_queue() == {}


CRASH_DAGS = """\
[dags.producer]
[dags.producer.tasks.make]
command = "echo \\"make {{ ds }}\\" >> ledger; touch made-{{ ds }}"
outlets = ["data"]

[dags.consumer]
schedule = { assets = "data", match = "ds" }
[dags.consumer.tasks.use]
command = "echo \\"use {{ ds }}\\" >> ledger"
"""


def test_sigkill_between_a_producers_end_and_its_consumers_run_loses_no_event_and_starts_the_run_once(
    project, up_processes
):
    """Six producer runs; each time the scheduler is killed with SIGKILL a different while after the
    producer's process ended (before, during and after recording its success, its event and the
    consumer's run). A restart then finishes everything: one event and one consumer run per day."""
    project.write("dags/c.toml", CRASH_DAGS)
    delays = [0.0, 0.003, 0.01, 0.03, 0.08, 0.2]
    days = [f"2024-03-{i + 1:02d}" for i in range(len(delays))]
    for day, delay in zip(days, delays, strict=True):
        assert project.minorch("trigger", "producer", "--date", day).returncode == 0
        up = up_processes(project)
        assert wait_until(lambda day=day: (project.root / f"made-{day}").exists(), timeout=15)
        time.sleep(delay)
        up.proc.send_signal(signal.SIGKILL)
        up.proc.wait(5)
    up = up_processes(project)
    store = project.store()
    assert wait_until(
        lambda: (
            len([r for r in runs_of(store, "consumer") if r.state.finished]) >= len(days)
            and all(r.state.finished for r in runs_of(store, "producer"))
        ),
        timeout=30,
    )
    time.sleep(0.5)
    up.kill()
    assert [e.ds for e in reversed(store.asset_events("data"))] == days  # exactly one event per producer run
    consumer_runs = runs_of(store, "consumer")
    assert sorted(r.logical_date[:10] for r in consumer_runs) == days  # each run created once
    assert all(r.state is RunState.SUCCESS for r in consumer_runs)
    for run in consumer_runs:
        assert [e.ds for e in store.run_asset_events(run.pk)] == [run.logical_date[:10]]
    # A try whose process had not exited when the scheduler died is tried again after the restart
    # (crash recovery); its success, and so its event, is still recorded once.
    ledger = (project.root / "ledger").read_text().splitlines()
    assert sorted({x for x in ledger if x.startswith("make")}) == [f"make {d}" for d in days]
    assert store.asset_queue() == {}


def test_the_cli_lists_assets_their_history_and_their_lineage(project):
    project.write("dags/p.toml", PRODUCER)
    project.run("producer")
    listed = project.minorch("assets", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["a"]["producers"] == ["producer.ok"] and rows["a"]["consumers"] == ["consumer"]
    assert rows["a"]["last"]["ds"] == "2024-01-15" and rows["b"]["last"] is None
    assert rows["a"]["waits"] == ["consumer: has a, waits for b"]
    shown = project.minorch("assets", "show", "a")
    assert shown.returncode == 0 and "producer.ok" in shown.stdout and "2024-01-15" in shown.stdout
    drawn = project.minorch("graph", "--assets", "--format", "mermaid")
    assert "asset_a --> dag_consumer" in drawn.stdout
    assert project.minorch("dags").stdout.count("assets: a & (b | c)") == 1


FRESHNESS = """\
[assets.feed]
fresh_within = "1s"
on_stale = [{ command = "cat >> stale.jsonl; echo >> stale.jsonl" }]

[dags.reader]
schedule = { assets = "feed" }
[dags.reader.tasks.read]
command = "true"
"""


def test_a_stale_asset_is_notified_once_per_stale_spell_also_across_restarts(project, up_processes):
    project.write("dags/f.toml", FRESHNESS)
    notes = project.root / "stale.jsonl"

    def events() -> list[dict]:
        return [json.loads(x) for x in notes.read_text().splitlines() if x.strip()] if notes.exists() else []

    up = up_processes(project)
    assert wait_until(lambda: len(events()) == 1, timeout=10)  # never had an event: stale at once
    assert events()[0]["last_event"] is None and "feed is stale: never had an event" in events()[0]["text"]
    assert project.minorch("asset", "emit", "feed").returncode == 0
    assert wait_until(lambda: len(events()) == 2, timeout=10)  # fresh for a second, then stale again
    assert events()[1]["last_event"]["asset"] == "feed"
    up.kill()
    again = up_processes(project)
    again.ready()
    time.sleep(1.5)
    again.kill()
    assert len(events()) == 2  # a restart does not repeat a notice
    listed = json.loads(project.minorch("assets", "--json").stdout)
    assert [(r["name"], r["stale"]) for r in listed] == [("feed", True)]


MULTI = """\
from minorch import DAG, Asset, multi_asset, sensor, task


@multi_asset(outs=["orders", "customers"])
def crm_export(ds):
    return {"day": ds}


with DAG("fanout"):
    @task(outlets=[Asset("tables_done")])
    def load(table):
        return table

    landed = sensor("landed", file="ready-{{ ds }}", poke_interval="1s", outlets=["landed_file"])
    landed >> load.expand(table=["a", "b", "c"])
"""


def test_multi_asset_mapped_tasks_and_sensors_record_their_events_once_on_success(project):
    project.write("dags/multi.py", MULTI)
    (project.root / "ready-2024-01-15").touch()
    assert project.run("crm_export").exit_code == 0
    assert project.run("fanout").exit_code == 0
    store = project.store()
    [orders], [customers] = store.asset_events("orders"), store.asset_events("customers")
    assert orders.extra == customers.extra == {"day": "2024-01-15"}
    assert (orders.dag_id, orders.task_id) == ("crm_export", "crm_export")
    [mapped] = store.asset_events("tables_done")  # once for the mapped task, not per copy
    assert mapped.extra == ["a", "b", "c"] and mapped.task_id == "load"
    [landed] = store.asset_events("landed_file")
    assert landed.task_id == "landed" and landed.ds == "2024-01-15"


def test_the_bundled_bronze_silver_gold_example_runs_under_up(project, up_processes):
    """examples/assets as shipped: a bronze run, an external event, and the report at the end."""
    import shutil
    from pathlib import Path

    shutil.copytree(Path(__file__).parent.parent / "examples" / "assets", project.root / "dags", dirs_exist_ok=True)
    up = up_processes(project)
    up.ready()
    assert project.minorch("trigger", "orders_bronze", "--date", "2024-01-15").returncode == 0
    assert project.minorch("asset", "emit", "customers_raw", "--ds", "2024-01-15").returncode == 0
    store = project.store()
    report = wait_until(lambda: [r for r in runs_of(store, "sales_report") if r.state.finished], timeout=60)
    up.kill()
    assert report and report[0].state is RunState.SUCCESS and report[0].logical_date.startswith("2024-01-15")
    assert [r.logical_date[:10] for r in runs_of(store, "orders_mart")] == ["2024-01-15"]
    [attempt] = store.attempts(report[0].pk)
    log = Path(attempt.log_path).read_text()
    assert "sales report for 2024-01-15; mart: .minorch/data/assets/orders_mart/2024-01-15.json" in log
    assert "triggered by 2 events" in log
    mart = json.loads((project.root / ".minorch/data/assets/orders_mart/2024-01-15.json").read_text())
    assert sum(mart.values()) > 0


SLOW_PRODUCER = CRASH_DAGS.replace('command = "echo', 'command = "sleep 1; echo')


def test_a_crash_at_each_dangerous_point_of_an_asset_handoff_creates_the_consumer_run_exactly_once(
    project, up_processes
):
    """Deterministic points: (1) the producer's try ends while no scheduler runs (recovery records
    its success and its event together); (2) success and event are committed but the consumer's
    run is not (the state a kill right after that commit leaves); (3) the run is created and its
    events consumed (a restart must not create another)."""
    project.write("dags/c.toml", SLOW_PRODUCER)
    store = project.store()
    # (1) kill while the producer's try sleeps; it finishes on its own with no scheduler
    assert project.minorch("trigger", "producer", "--date", "2024-04-01").returncode == 0
    up = up_processes(project)
    started = lambda: any(  # noqa: E731 - a try's pid is recorded once its process runs
        a.pid and a.end_date is None for r in runs_of(store, "producer") for a in store.attempts(r.pk)
    )
    assert wait_until(started)
    up.proc.send_signal(signal.SIGKILL)
    up.proc.wait(5)
    assert store.asset_events("data") == []
    assert wait_until(lambda: (project.root / "made-2024-04-01").exists(), timeout=10)
    time.sleep(0.3)  # its exit status is written as it exits
    # (2) a producer success with its event, committed, and no consumer run yet
    store.add_asset_event("data", ds="2024-04-02", extra_json="null", now=time.time(), dag_id="producer",
                          run_id="manual__2024-04-02T00:00:00+00:00", task_id="make")  # fmt: skip
    for _restart in range(2):  # (3) the second start finds both runs made and their events consumed
        up = up_processes(project)
        up.ready()
        assert wait_until(lambda: len([r for r in runs_of(store, "consumer") if r.state.finished]) >= 2, timeout=20)
        time.sleep(0.5)
        up.proc.send_signal(signal.SIGKILL)
        up.proc.wait(5)
    assert sorted(e.ds for e in store.asset_events("data")) == ["2024-04-01", "2024-04-02"]
    assert sorted(r.logical_date[:10] for r in runs_of(store, "consumer")) == ["2024-04-01", "2024-04-02"]
    assert store.asset_queue() == {}
    assert [line for line in (project.root / "ledger").read_text().splitlines() if line.startswith("make")] == [
        "make 2024-04-01"  # recovered from its exit status: not run again
    ]
