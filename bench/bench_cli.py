"""How fast the CLI answers: `minorch --help`, `minorch dags` and `minorch validate`, against the
interpreter's own start measured in the same run.

Run: `python bench/bench_cli.py [--reps 11] [--files 200] [--tasks 20]`. Prints machine, date,
load average and a markdown table of medians. Goals (issue 18): `--help` <= 0.04 s and `dags`
<= 0.08 s on the bundled examples (this repository's minorch.toml), `validate` of FILES TOML DAG
files x TASKS tasks (bench_registry's files: a chain with a fan-in, templated commands) <= 0.3 s.
The machine's limit is `python -c pass`. The goals were set on a quiet machine whose interpreter
started in 0.011 s; on a loaded machine every process is slower, so each goal is also given as
a multiple of the interpreter start (goal / 0.011 s) and judged that way in the last column.

Each command is a real `python -m minorch ...` process, timed from spawn to exit (wall) and by
the CPU time it used (user + system, which a loaded machine inflates less). The commands take
turns, one repetition of each in every round, so a change of load hits them all alike. Byte
code is written and used (PYTHONDONTWRITEBYTECODE is removed), as after an install; `dags` runs
once before timing, so its cache of loaded Python DAG files is warm, as for anyone who listed
before. `python -c "import click"` is shown too: the command-line library alone, which every
command (and `--help`) loads.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_registry import make_project  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
QUIET_START = 0.011  # seconds: `python -c pass` on the quiet machine the goals were set on


def run_once(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; fails loudly if the command fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode()[-500:]}")
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


Commands = dict[str, tuple[list[str], Path]]  # name -> (argv, folder to run in)


def timed(commands: Commands, env: dict[str, str], reps: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each command, the commands taking turns round by round."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(reps):
        for name, (argv, cwd) in commands.items():
            times[name].append(run_once(argv, cwd, env))
    return {name: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env.pop("MINORCH_CONFIG", None)
    minorch = [sys.executable, "-m", "minorch"]
    load_before = os.getloadavg()
    subprocess.run([*minorch, "dags"], cwd=REPO, env=env, stdout=subprocess.DEVNULL, check=True)  # warm
    with tempfile.TemporaryDirectory() as tmp:
        project = make_project(Path(tmp) / "many", "toml", args.files, args.tasks).parent
        validate = f"`minorch validate`, {args.files} TOML files x {args.tasks} tasks"
        commands = {
            "`python -c pass` (the machine's limit)": ([sys.executable, "-c", "pass"], REPO),
            '`python -c "import click"`': ([sys.executable, "-c", "import click"], REPO),
            "`minorch --help`": ([*minorch, "--help"], REPO),
            "`minorch dags`, bundled examples": ([*minorch, "dags"], REPO),
            validate: ([*minorch, "validate"], project),
        }
        took = timed(commands, env, args.reps)
    load_after = os.getloadavg()
    goals = {"`minorch --help`": 0.04, "`minorch dags`, bundled examples": 0.08, validate: 0.3}
    floor_wall, floor_cpu = took["`python -c pass` (the machine's limit)"]
    print(
        f"machine: {platform.node()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after; medians of {args.reps}"
    )
    print()
    print("| command | wall s | x start | CPU s | x start (CPU) | goal | | goal as x start | |")
    print("|---|---:|---:|---:|---:|---|---|---:|---|")
    for name, (wall, cpu) in took.items():
        goal = goals.get(name)
        cells = f"| {name} | {wall:.3f} | {wall / floor_wall:.1f} | {cpu:.3f} | {cpu / floor_cpu:.1f} |"
        if goal is None:
            print(f"{cells} | | | |")
            continue
        ratio = goal / QUIET_START
        verdict = "met" if wall <= goal else "missed"
        by_ratio = "met" if wall / floor_wall <= ratio else "missed"
        print(f"{cells} <= {goal} s | {verdict} | <= {ratio:.1f} | {by_ratio} |")


if __name__ == "__main__":
    main()
