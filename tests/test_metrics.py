"""Metrics for Prometheus: numbers read from real state files, `/metrics` of a real `minorch up` scraped
over HTTP, the node_exporter textfile written atomically (checked by killing its writer mid-write)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import urllib.request
from datetime import datetime, timezone

import pytest
from conftest import try_row, wait_until
from prometheus_client.parser import text_string_to_metric_families

from minorch import operations as ops
from minorch.metrics import collect, exposition, registry
from minorch.registry import load


def parse(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of every sample in Prometheus text."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_histograms_and_last_success_come_from_the_state_file(project, picture_run):
    store = project.store()
    try:
        made = registry(lambda: collect(store, up=False, ready=None, now=1.0e9))
        samples = parse(exposition(made).decode())
    finally:
        store.close()
    assert samples[("minorch_runs", (("dag_id", "pics"), ("state", "success")))] == 1
    assert samples[("minorch_tries", (("dag_id", "pics"), ("outcome", "success")))] == 7  # flaky's 2nd try, 3 copies
    assert samples[("minorch_tries", (("dag_id", "pics"), ("outcome", "failed")))] == 1  # flaky's first try
    assert samples[("minorch_try_duration_seconds_count", (("dag_id", "pics"),))] == 8
    assert samples[("minorch_try_duration_seconds_bucket", (("dag_id", "pics"), ("le", "+Inf")))] == 8
    assert samples[("minorch_try_duration_seconds_bucket", (("dag_id", "pics"), ("le", "5.0")))] == 8
    total = sum(a.duration for tries in picture_run.attempts.values() for a in tries)
    assert samples[("minorch_try_duration_seconds_sum", (("dag_id", "pics"),))] == pytest.approx(total)
    assert samples[("minorch_last_success_timestamp_seconds", (("dag_id", "pics"),))] == picture_run.run.end_date
    assert samples[("minorch_tries_running", ())] == 0 and samples[("minorch_tries_queued", ())] == 0
    assert samples[("minorch_scheduler_up", ())] == 0 and ("minorch_scheduler_ready", ()) not in samples
    assert samples[("minorch_load_errors", ())] == 0


def test_lateness_is_a_scheduled_runs_first_try_start_minus_its_fire_time(project):
    project.write("dags/tick.toml", '[dags.tick]\nschedule = "@hourly"\n[dags.tick.tasks.a]\ncommand = "true"\n')
    dag = load(project.settings()).dags["tick"]
    store = project.store()
    fire = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    for hour, late in ((12, 0.03), (13, 2.0)):
        pk = ops.new_run(store, dag, fire.replace(hour=hour), "scheduled", {}, fire.timestamp())
        started = fire.replace(hour=hour).timestamp() + late
        for try_number, start in ((1, started), (2, started + 60)):  # the first try counts
            store.start_attempt(try_row(f"{pk}-{try_number}", pk, "a", start, try_number=try_number))
    try:
        samples = parse(exposition(registry(lambda: collect(store, up=True, ready=True, now=0.0))).decode())
    finally:
        store.close()
    key = "minorch_scheduling_lateness_seconds"
    assert samples[(f"{key}_count", (("dag_id", "tick"),))] == 2
    assert samples[(f"{key}_bucket", (("dag_id", "tick"), ("le", "0.05")))] == 1
    assert samples[(f"{key}_bucket", (("dag_id", "tick"), ("le", "5.0")))] == 2
    assert samples[(f"{key}_sum", (("dag_id", "tick"),))] == pytest.approx(2.03)
    assert samples[("minorch_tries", (("dag_id", "tick"), ("outcome", "running")))] == 4
    assert samples[("minorch_tries_running", ())] == 4
    assert samples[("minorch_scheduler_ready", ())] == 1


def test_minorch_up_serves_metrics_over_http_and_rewrites_the_textfile(project, up_processes):
    textfile = project.root / "textfile" / "minorch.prom"
    textfile.parent.mkdir()
    project.configure(minorch=f'metrics = "textfile:{textfile}"\nmetrics_port = 0')
    project.write("dags/tick.toml", '[dags.tick.tasks.a]\ncommand = "true"\n')
    up = up_processes(project)
    up.ready()
    line = up.wait_for(lambda e: "metrics on http://" in e.get("message", ""))
    url = line["message"].split()[-1]
    assert url.startswith("http://127.0.0.1:")
    assert project.minorch("trigger", "tick").returncode == 0

    def scrape() -> dict:
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return parse(response.read().decode())

    samples = wait_until(
        lambda: (s := scrape()).get(("minorch_runs", (("dag_id", "tick"), ("state", "success")))) and s
    )
    assert samples, "the triggered run never showed as a success"
    assert samples[("minorch_scheduler_up", ())] == 1 and samples[("minorch_scheduler_ready", ())] == 1
    assert samples[("minorch_tries", (("dag_id", "tick"), ("outcome", "success")))] == 1
    written = parse(textfile.read_text())  # written once at start: the scheduler was up, before the run
    assert written[("minorch_scheduler_up", ())] == 1
    assert up.signal(signal.SIGTERM) == 0
    last = parse(textfile.read_text())  # the last write, on the way down
    assert last[("minorch_scheduler_up", ())] == 0
    assert last[("minorch_runs", (("dag_id", "tick"), ("state", "success")))] == 1
    assert [p.name for p in textfile.parent.iterdir()] == ["minorch.prom"]  # no temporary file left


WRITER = """
import itertools, sys
from pathlib import Path
from minorch.metrics import write_textfile
path = Path(sys.argv[1])
pad = "x" * 120
for version in itertools.count():
    lines = "".join(f'filler{{i="{i}",pad="{pad}"}} {version}\\n' for i in range(LINES))
    write_textfile(path, f"# TYPE version gauge\\nversion {version}\\n{lines}".encode())
    print(version, flush=True)
"""
LINES = 40_000  # ~6 MB a version: each write takes long enough to be caught in the middle


def complete(text: str) -> int:
    """The version a textfile holds, after checking it is whole: every line present, all of one version."""
    lines = text.splitlines()
    version = lines[1].split()[1]
    assert lines[0] == "# TYPE version gauge" and len(lines) == LINES + 2 and text.endswith("\n")
    assert lines[2].endswith(f" {version}") and lines[-1].endswith(f" {version}")
    return int(version)


def test_the_textfile_is_replaced_whole_even_when_its_writer_is_killed_mid_write(project):
    path = project.root / "minorch.prom"
    folder = project.root
    for _attempt in range(5):  # until one kill lands between the temporary file's creation and its rename
        writer = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER).replace("LINES", str(LINES)), str(path)],
            env=project.env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert int(writer.stdout.readline()) >= 0
            seen = {complete(path.read_text()) for _ in range(3)}  # readers meet whole versions only
            assert seen
            caught = wait_until(lambda: any(p.suffix == ".tmp" for p in folder.iterdir()), timeout=10, every=0.001)
            writer.send_signal(signal.SIGKILL)
            writer.wait(10)
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
        assert caught
        complete(path.read_text())  # the last whole version, whatever the kill interrupted
        leftovers = [p for p in folder.iterdir() if p.suffix == ".tmp"]
        if leftovers:
            assert not any(p.name.endswith(".prom") for p in leftovers)  # node_exporter never reads it
            break
    else:
        pytest.fail("no kill landed in the middle of a write in 5 tries")
    samples = parse(path.read_text())
    assert len(samples) == LINES + 1 and len(set(samples.values())) == 1


def test_minorch_metrics_prints_and_writes_the_same_text(project, picture_run):
    done = project.minorch("metrics")
    assert done.returncode == 0, done.stderr
    printed = parse(done.stdout)
    assert printed[("minorch_runs", (("dag_id", "pics"), ("state", "success")))] == 1
    assert printed[("minorch_scheduler_up", ())] == 0
    target = project.root / "out.prom"
    done = project.minorch("metrics", "--textfile", str(target))
    assert done.returncode == 0 and done.stdout == ""
    assert parse(target.read_text()).keys() == printed.keys()


def test_a_bad_metrics_setting_is_one_line_with_the_line_number(project):
    project.configure(minorch='metrics = "prom:/tmp/x"')
    done = project.minorch("metrics")
    assert done.returncode == 2
    assert done.stderr.startswith('minorch: error: minorch.toml:6: metrics must be "textfile:PATH"')
    assert json.dumps(done.stderr).count("\\n") == 1


def test_without_prometheus_client_metrics_say_how_to_install_it(project):
    blocker = project.root / "blocker" / "prometheus_client"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('not installed here')\n")
    env = project.env()
    env["PYTHONPATH"] = f"{blocker.parent}:{env['PYTHONPATH']}"
    project.write("dags/tick.toml", '[dags.tick.tasks.a]\ncommand = "true"\n')
    assert project.minorch("trigger", "tick").returncode == 0  # a state file to read
    done = subprocess.run(
        [sys.executable, "-m", "minorch", "metrics"], cwd=project.root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == (
        "minorch: error: metrics need prometheus-client, which is not installed "
        '(install the metrics extra: pip install "minorch[metrics]" (it adds prometheus-client))\n'
    )
    project.configure(minorch="metrics_port = 0")
    up = subprocess.run(
        [sys.executable, "-m", "minorch", "up", "--no-ui"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert up.returncode == 2 and "Traceback" not in up.stderr
    assert up.stderr.splitlines()[-1].startswith("minorch: error: metrics need prometheus-client")
