"""End-to-end check of the terminal UI in a real terminal (tmux), with a real scheduler.

Starts `minorch up` (scheduler + UI) in `tmux new -d -x 100 -y 30` on a fresh project,
drives it with `tmux send-keys` and checks `tmux capture-pane -p` text: each DAG's next run
with its zone's offset, trigger a run, follow a running task's log, grid and graph, the run's
Gantt and run durations, clear a failed task (its second try runs), pause (the next run reads
"paused") and unpause, a log that fills the pane keeps following (G, g and f from the tries
table), grid labels after a backfill and a second run on one day (the day, then the hour under
it), resize to 160x48 and 80x24, then `minorch ui` from a second terminal on the same state
file (whose q quits at once, where `minorch up` asks before stopping the scheduler).
With `--cpu SECONDS` it also measures both processes' idle CPU with psutil.

Not collected by pytest (it takes ~20 s and needs tmux): run `python tests/tui_tmux.py [--cpu 20]`.
Exit status 0 when every check passed; each screen checked is printed with `--show`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ETL = """
[dags.etl]
schedule = "@daily"
description = "orders: extract, transform, test, publish"

[dags.etl.tasks.extract]
command = "echo extracting {{ ds }}; for i in 1 2 3; do echo row $i; sleep 1; done"
[dags.etl.tasks.transform]
command = "echo transform"
after = ["extract"]
[dags.etl.tasks.report]
command = "echo report"
after = ["extract"]
[dags.etl.tasks.test]
command = "echo checking rows; exit 1"
after = ["transform"]
[dags.etl.tasks.publish]
command = "echo publish"
after = ["test", "report"]
"""
STREAM = """
[dags.stream]
schedule = "0 6 * * *"
timezone = "Europe/Berlin"

[dags.stream.tasks.talk]
command = "for i in $(seq 1 80); do echo filler $i; done; for i in $(seq 1 12); do sleep 1; echo tick $i; done"
"""
BROKEN = '[dags.broken.tasks.a]\ncommand = "true"\nafter = ["b"]\n'


class Pane:
    """One tmux session running one command."""

    def __init__(self, name: str, command: str, cwd: Path, show: bool) -> None:
        self.name, self.show = name, show
        subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True)
        subprocess.run(["tmux", "new", "-d", "-s", name, "-x", "100", "-y", "30", "-c", str(cwd), command], check=True)
        subprocess.run(["tmux", "set", "-t", name, "remain-on-exit", "on"], check=True)

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def wait(self, check, what: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if check(text):
                if self.show:
                    print(f"--- {self.name}: {what}\n{text}")
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what}: not seen within {timeout}s; screen:\n{text}")
            time.sleep(0.1)

    def see(self, fragment: str, timeout: float = 10.0) -> str:
        return self.wait(lambda text: fragment in text, repr(fragment), timeout)

    def line(self, start: str) -> str:
        return next((line for line in self.text().splitlines() if line.startswith(start)), "")

    def process(self) -> psutil.Process:
        pid = int(
            subprocess.run(
                ["tmux", "display", "-p", "-t", self.name, "#{pane_pid}"], capture_output=True, text=True
            ).stdout
        )
        shell = psutil.Process(pid)
        return next((p for p in [shell, *shell.children(recursive=True)] if "minorch" in " ".join(p.cmdline())), shell)

    def dead(self) -> bool:
        out = subprocess.run(
            ["tmux", "display", "-p", "-t", self.name, "#{pane_dead}"], capture_output=True, text=True
        ).stdout.strip()
        return out == "1"

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


def idle_cpu(process: psutil.Process, seconds: float) -> float:
    """Percent of one CPU the process (with its threads) used over `seconds` of wall time."""
    before = process.cpu_times()
    start = time.monotonic()
    time.sleep(seconds)
    after = process.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return 100 * used / (time.monotonic() - start)


def scenario(folder: Path, show: bool, cpu_seconds: float) -> None:
    (folder / "dags").mkdir()
    (folder / "minorch.toml").write_text('[minorch]\nstate_dir = ".minorch"\ndag_folders = ["dags"]\n')
    (folder / "dags" / "etl.toml").write_text(ETL)
    (folder / "dags" / "stream.toml").write_text(STREAM)
    (folder / "dags" / "broken.toml").write_text(BROKEN)
    up = Pane("minorch-up", f"{sys.executable} -m minorch up", folder, show)
    ui = None
    try:
        up.see("scheduler running")
        up.see("broken.toml")  # the load error is listed under the DAGs
        up.wait(lambda text: " +00:00 " in up.line(" etl"), "etl's next run with its offset")
        up.wait(lambda text: " 06:00 +01:00 " in up.line(" stream"), "stream's next run in Berlin time, offset shown")
        up.keys("t")
        up.see("queues run manual__")
        up.keys("Enter")
        up.wait(lambda text: "▶" in up.line(" etl"), "the new run shows as running in the DAG list")
        up.keys("Enter")  # the grid; the cursor is on extract in the newest run
        up.see("task (day)")
        up.keys("Enter")  # extract's tries and log, while it runs
        up.see("row 1")
        up.see("row 3", timeout=6)  # lines appear as the task writes them
        up.see("■ success")
        up.keys("Escape")
        up.wait(lambda text: up.line(" test ").split()[-1:] == ["✗"], "test failed in the grid")
        up.wait(lambda text: up.line(" publish").split()[-1:] == ["▲"], "publish upstream_failed")
        up.keys("w")  # the run's Gantt: extract first, transform and report in parallel after it
        up.see("critical path: extract → ")
        up.wait(lambda text: "█" in up.line("*extract") and up.line("*extract").rstrip().endswith("s"), "bars")
        up.wait(lambda text: up.line(" report").index("█") > up.line("*extract").index("█"), "report after extract")
        up.keys("Escape")
        up.see("task (day)")
        up.keys("d")  # the DAG's run durations
        up.see("run duration, last 1 runs")
        up.keys("Escape")
        up.see("task (day)")
        up.keys("g")
        up.see("■ extract ──┬─▸ ■ transform ───▸ ✗ test ──┬─▸ ▲ publish")
        up.keys("g", "Down", "Down", "Down")  # to test
        up.keys("c")
        up.see("runs 2 tasks again: test, publish")
        up.keys("Enter")
        up.wait(
            lambda text: up.line(" test ").split()[-1:] in (["·"], ["▶"], ["✗"]) and "cleared" in text,
            "clear confirmed",
        )
        up.keys("Enter")  # test's tries: a second one runs after the clear
        up.wait(lambda text: any(line.split()[:1] == ["2"] for line in text.splitlines()), "try 2 of test")
        up.keys("Escape", "Escape")
        up.see("runs  paused")
        up.keys("p")
        up.wait(lambda text: " yes " in f"{up.line(' etl')} " and " paused " in up.line(" etl"), "etl paused")
        up.keys("p")
        up.wait(lambda text: " no " in f"{up.line(' etl')} " and " +00:00 " in up.line(" etl"), "etl unpaused")
        # A log that already fills the pane when it opens keeps following; G, g, f from the tries table.
        up.keys("Down", "t")
        up.see("queues run manual__")
        up.keys("Enter")
        up.wait(lambda text: "▶" in up.line(" stream"), "stream running")
        up.keys("Enter")
        up.see("task (day)")
        up.keys("Enter")
        up.see("tick 2", timeout=15)
        up.see("tick 4")  # no key pressed: the view followed the end
        up.keys("g")
        up.see("filler 1\n")
        up.keys("G")
        up.see("tick ")
        up.keys("f")
        up.see("not following")
        up.keys("f")
        up.see("following the log")
        up.keys("Escape", "Escape")
        # Grid labels after a backfill plus a second run on one day: the day, with the hour under it.
        done = subprocess.run(
            [sys.executable, "-m", "minorch", "backfill", "stream", "--start", "2024-01-01", "--end", "2024-01-03"],
            cwd=folder,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        subprocess.run(
            [sys.executable, "-m", "minorch", "trigger", "stream", "--date", "2024-01-03T12:00"], cwd=folder, check=True
        )
        up.keys("Enter")
        up.wait(lambda text: up.line(" task (day)").split()[2:5] == ["01", "02", "03"], "days as labels")
        up.wait(lambda text: up.line(" (hour)").split()[1:5] == ["06", "06", "06", "12"], "the hour under the day")
        up.keys("Escape")
        up.see("runs  paused")
        up.keys("Up")
        subprocess.run(["tmux", "resize-window", "-t", up.name, "-x", "160", "-y", "48"], check=True)
        up.wait(
            lambda text: len(text.splitlines()) == 48 and "orders: extract" in up.line(" etl"),
            "redrawn at 160x48, with the description column",
        )
        subprocess.run(["tmux", "resize-window", "-t", up.name, "-x", "80", "-y", "24"], check=True)
        up.wait(lambda text: len(text.splitlines()) <= 24 and "etl" in text, "redrawn at 80x24")
        ui = Pane("minorch-ui", f"{sys.executable} -m minorch ui", folder, show)
        ui.see("scheduler running")
        ui.wait(lambda text: "✗" in ui.line(" etl"), "second terminal shows the runs")
        if cpu_seconds:
            print(f"idle CPU over {cpu_seconds:g}s: minorch ui {idle_cpu(ui.process(), cpu_seconds):.2f} %")
            print(
                f"idle CPU over {cpu_seconds:g}s: minorch up (scheduler + UI) "
                f"{idle_cpu(up.process(), cpu_seconds):.2f} %"
            )
        ui.keys("q")
        ui.wait(lambda text: ui.dead(), "minorch ui quit")
        up.keys("q")
        up.see("Stop the scheduler and quit?")
        up.keys("Escape")
        time.sleep(0.5)
        assert not up.dead(), "escape in the question must keep minorch up running"
        up.keys("q")
        up.see("Stop the scheduler and quit?")
        up.keys("y")
        up.wait(lambda text: up.dead(), "minorch up quit")
    finally:
        up.close()
        if ui is not None:
            ui.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", type=float, default=0.0, metavar="SECONDS", help="also measure idle CPU")
    parser.add_argument("--show", action="store_true", help="print each checked screen")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        try:
            scenario(Path(folder), args.show, args.cpu)
        except AssertionError as err:
            print(f"FAIL: {err}", file=sys.stderr)
            return 1
    print("tui_tmux: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
