"""Chain hand-off on the tasks' own clocks: one task's last line to the next task's first.

Run: `python bench/bench_handoff.py [--tasks 100] [--repo PATH]`. Prints a markdown table; results go
in bench/RESULTS.md with the machine, date and load average.

Each task of a chain runs `date +%s.%N` first and last; the hand-off is the next task's first `date`
minus this task's last one: the scheduler noticing the end, recording it, planning, recording the
next try and spawning it. The limit, measured in the same run: a Python loop that starts the same
shell command for each task one after the other (a spawner with no work of its own).
Goal (issue 18): median <= 2 ms, max <= 5 ms. `--repo` runs another checkout of minorch.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from bench_lateness import machine, summary  # noqa: E402

COMMAND = (
    'echo "$MINORCH_TASK_ID first $(date +%s.%N)" >> stamps; echo "$MINORCH_TASK_ID last $(date +%s.%N)" >> stamps'
)


def gaps(stamps: Path, order: list[str]) -> list[float]:
    seen: dict[tuple[str, str], float] = {}
    for line in stamps.read_text().splitlines():
        task, which, stamp = line.split()
        seen[(task, which)] = float(stamp)
    return [1000 * (seen[(b, "first")] - seen[(a, "last")]) for a, b in zip(order, order[1:], strict=False)]


def spawn_loop(root: Path, count: int) -> list[float]:
    order = [f"t{i:04d}" for i in range(count)]
    for task in order:
        subprocess.run(["sh", "-c", COMMAND], cwd=root, env={**os.environ, "MINORCH_TASK_ID": task}, check=True)
    return gaps(root / "stamps", order)


def minorch_chain(root: Path, count: int, repo: Path) -> list[float]:
    (root / "dags").mkdir(parents=True)
    (root / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n')
    order = [f"t{i:04d}" for i in range(count)]
    lines = ["[dags.chain]", ""]
    for i, task in enumerate(order):
        lines += [f"[dags.chain.tasks.{task}]", f"command = '{COMMAND}'"]
        lines += [f'after = ["{order[i - 1]}"]'] if i else []
        lines.append("")
    (root / "dags" / "chain.toml").write_text("\n".join(lines))
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run([sys.executable, "-m", "minorch", "run", "chain", "--quiet"], cwd=root, env=env)
    if done.returncode != 0:
        raise SystemExit(f"the chain failed ({done.returncode})")
    return gaps(root / "stamps", order)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--repo", type=Path, default=REPO, help="The minorch checkout to measure.")
    args = parser.parse_args()
    print(machine(args.repo))
    print("| hand-off on the tasks' own clocks (ms) | result | load average (1 min) |\n|---|---|---:|")
    with tempfile.TemporaryDirectory(prefix="minorch-handoff-") as folder:
        load = os.getloadavg()[0]
        limit = spawn_loop(Path(folder), args.tasks)
        print(f"| a loop starting the same command (the limit) | {summary(limit)} | {load:.1f} |", flush=True)
        load = os.getloadavg()[0]
        chain = minorch_chain(Path(folder) / "project", args.tasks, args.repo)
        print(
            f"| `minorch run`, {args.tasks}-task chain (goal: median <= 2, max <= 5) | {summary(chain)} | {load:.1f} |"
        )


if __name__ == "__main__":
    main()
