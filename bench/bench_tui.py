"""Cost of one TUI refresh on a big state file: 100 DAGs x 50 runs x 20 tasks.

    python bench/bench_tui.py [--dags 100] [--runs 50] [--tasks 20] [--reps 50]

Builds a project (one TOML file per DAG, 20 tasks in a diamond-ish pattern) and a state
file with every run finished and one try (with a log file) per task instance, then times:

(a) `Feed.build`: the worker's full refresh with the DAG list, one DAG's grid and graph
    data (25 runs x 20 tasks) and one task's tries open: SQL plus model building;
(b) `Feed.poll` when nothing changed: the cost of the twice-a-second look;
(d) `Feed.build` as (a) with the grid paged back to the DAG's older runs (`[`): runs 26-50;
(c) the UI thread applying a refresh in a headless app (80x24): DAG list, grid and graph
    updated and redrawn after one task instance changed state, as process CPU time;
(e) `Feed.build` as (a) with the picture screens' data too: the newest run's Gantt (20 bars)
    and a task's durations over 50 runs;
(f), (g) as (c) with the Gantt screen / the run-durations screen open on top of the DAG screen.

Prints the median and 95th percentile of each. The targets: (a) < 50 ms; (c), (f), (g) p95 < 50 ms.

Results with machine, date and load average: bench/RESULTS.md ("Terminal UI" and the quiet reruns).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch import operations as ops  # noqa: E402
from minorch.config import load_settings  # noqa: E402
from minorch.registry import load  # noqa: E402
from minorch.states import RunState, TaskState  # noqa: E402
from minorch.store import Attempt, Store  # noqa: E402
from minorch.tui.feed import Feed, _Want  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
STAMP = START.timestamp()


def dag_toml(dag_id: str, tasks: int) -> str:
    """`tasks` tasks: t00 feeds t01..t03, then each task depends on the one three before it, the last joins all."""
    lines = [f'[dags.{dag_id}]\nschedule = "@daily"\n']
    for i in range(tasks):
        after = [] if i == 0 else [f"t{max(0, i - 3):02d}"]
        if i == tasks - 1:
            after = [f"t{j:02d}" for j in range(max(0, i - 3), i)]
        lines.append(f'[dags.{dag_id}.tasks.t{i:02d}]\ncommand = "echo {i}"\nafter = {after!r}\n'.replace("'", '"'))
    return "\n".join(lines)


def build(folder: Path, dags: int, runs: int, tasks: int):
    (folder / "dags").mkdir()
    (folder / "minorch.toml").write_text('[minorch]\nstate_dir = "state"\ndag_folders = ["dags"]\n')
    for d in range(dags):
        (folder / "dags" / f"dag{d:03d}.toml").write_text(dag_toml(f"dag{d:03d}", tasks))
    settings = load_settings(folder / "minorch.toml")
    began = time.perf_counter()
    registry = load(settings)
    loaded = time.perf_counter() - began
    store = Store(settings.db_path)
    log = settings.log_dir / "one.log"
    log.parent.mkdir(parents=True)
    log.write_text("a line of output\n" * 200)
    with store.write():
        for dag in registry.dags.values():
            store.sync_dag(
                dag.dag_id, file=dag.file, schedule="@daily", description=None, paused_default=False, now=STAMP
            )
            for r in range(runs):
                pk = ops.new_run(store, dag, START + timedelta(days=r), "scheduled", {}, STAMP)
                store.set_run_state(pk, RunState.RUNNING, [RunState.QUEUED], now=STAMP)
                for i, tid in enumerate(dag.tasks):
                    failed = (r + i) % 17 == 0
                    state = TaskState.FAILED if failed else TaskState.SUCCESS
                    store.set_task_state(pk, tid, state, [TaskState.NONE], try_number=1, end_date=STAMP + 1)
                    store.start_attempt(
                        Attempt(
                            f"{pk}-{tid}",
                            pk,
                            tid,
                            -1,
                            1,
                            None,
                            None,
                            STAMP,
                            None,
                            None,
                            None,
                            None,
                            False,
                            True,
                            None,
                            None,
                            str(log),
                            None,
                            None,
                            f"echo {i}",
                        )
                    )
                    store.finish_attempt(
                        f"{pk}-{tid}",
                        end_date=STAMP + 1,
                        duration=1.0,
                        exit_code=int(failed),
                        signal=None,
                        timed_out=False,
                        outcome=state.value,
                        reason="exited",
                    )
                store.set_run_state(pk, RunState.SUCCESS, [RunState.RUNNING], now=STAMP)
    return settings, registry, store, loaded


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    median = statistics.median(ordered)
    if p95 < 1e-3:
        return f"median {median * 1e6:7.1f} us   p95 {p95 * 1e6:7.1f} us"
    return f"median {median * 1000:7.2f} ms   p95 {p95 * 1000:7.2f} ms"


def time_feed(settings, registry, reps: int, page: int = 0, pictures: bool = False) -> tuple[list[float], list[float]]:
    feed = Feed(settings, registry)
    dag = registry.dags["dag050"]
    feed.store = Store(settings.db_path)
    newest = feed.store.runs(dag.dag_id, limit=1)[0]
    want = _Want(dag_id=dag.dag_id, page=page, task=(newest.pk, "t07"))
    if pictures:  # the Gantt of the newest run and the task's durations open as well
        want = _Want(dag_id=dag.dag_id, task=(newest.pk, "t07"), gantt=newest.pk, durations=(dag.dag_id, "t07"))
    now = START + timedelta(days=400)
    builds = []
    for _ in range(reps):
        began = time.perf_counter()
        update = feed.build(want, now)
        builds.append(time.perf_counter() - began)
    assert len(update.dags.dags) == len(registry.dags) and len(update.dag.runs) == 25 and update.task.attempts
    assert not pictures or (len(update.gantt.bars) == 20 and len(update.durations.duration.points) == 50)
    feed.watch_dag(dag.dag_id)
    feed.poll(now, 0.0)
    polls = []
    for step in range(reps):
        began = time.perf_counter()
        assert feed.poll(now, 0.1 + step * 1e-3) is None
        polls.append(time.perf_counter() - began)
    feed.close()
    return builds, polls


def time_ui(settings, registry, store: Store, reps: int, picture: str | None = None) -> list[float]:
    """CPU time of App.on_refreshed and the redraw it causes, with the DAG screen open at 80x24 (and on
    top of it, with `picture`, the newest run's Gantt or the DAG's run durations)."""
    from minorch.tui.actions import Target
    from minorch.tui.app import Refreshed, make_app
    from minorch.tui.picture_screens import DurationScreen, GanttScreen
    from minorch.tui.screens import DagScreen

    samples: list[float] = []

    async def main() -> None:
        app = make_app(settings, registry=registry)
        async with app.run_test(size=(80, 24)) as pilot:
            while app.latest.dags is None:
                await pilot.pause(0.05)
            app.push_screen(DagScreen("dag050"))
            while app.latest.dag is None:
                await pilot.pause(0.05)
            run = store.runs("dag050", limit=1)[0]
            want = _Want(dag_id="dag050")
            if picture == "gantt":
                app.push_screen(GanttScreen(Target("dag050", run.pk, run.run_id)))
                want = _Want(dag_id="dag050", gantt=run.pk)
                while app.latest.gantt is None:
                    await pilot.pause(0.05)
            elif picture == "durations":
                app.push_screen(DurationScreen("dag050"))
                want = _Want(dag_id="dag050", durations=("dag050", None))
                while app.latest.durations is None:
                    await pilot.pause(0.05)
            app.feed.stop()  # from here on only this loop's updates reach the app, and no worker runs beside it
            await pilot.pause(0.6)
            feed = Feed(settings, registry)
            feed.store = Store(settings.db_path)
            now = START + timedelta(days=400)
            for step in range(reps):
                moved = (TaskState.SUCCESS, TaskState.FAILED) if step % 2 else (TaskState.FAILED, TaskState.SUCCESS)
                store.set_task_state(run.pk, "t05", moved[1], [moved[0], TaskState.SUCCESS, TaskState.FAILED])
                update = feed.build(want, now)
                await pilot.pause()
                began = time.process_time()
                app.on_refreshed(Refreshed(update))
                await pilot.pause()  # the widgets draw; process time counts that, not the pause's sleeping
                samples.append(time.process_time() - began)
            feed.close()

    asyncio.run(main())
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dags", type=int, default=100)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        began = time.perf_counter()
        settings, registry, store, loaded = build(Path(folder), args.dags, args.runs, args.tasks)
        print(
            f"state file: {args.dags} DAGs x {args.runs} runs x {args.tasks} tasks "
            f"({args.dags * args.runs * args.tasks} task instances and tries), "
            f"{settings.db_path.stat().st_size / 2**20:.1f} MiB, built in {time.perf_counter() - began:.1f} s; "
            f"DAG files loaded in {loaded * 1000:.0f} ms"
        )
        builds, polls = time_feed(settings, registry, args.reps)
        print(f"(a) refresh, worker (SQL + models):    {percentiles(builds)}")
        print(f"(b) poll with nothing changed:         {percentiles(polls)}")
        print(f"(c) refresh, UI thread (CPU, 80x24):    {percentiles(time_ui(settings, registry, store, args.reps))}")
        older, _polls = time_feed(settings, registry, args.reps, page=1)
        print(f"(d) refresh, worker, older runs page:  {percentiles(older)}")
        pictures, _polls = time_feed(settings, registry, args.reps, pictures=True)
        print(f"(e) refresh, worker, + Gantt + task durations: {percentiles(pictures)}")
        gantt = time_ui(settings, registry, store, args.reps, picture="gantt")
        print(f"(f) refresh, UI thread, Gantt open (CPU, 80x24): {percentiles(gantt)}")
        durations = time_ui(settings, registry, store, args.reps, picture="durations")
        print(f"(g) refresh, UI thread, run durations open (CPU, 80x24): {percentiles(durations)}")
        store.close()


if __name__ == "__main__":
    main()
