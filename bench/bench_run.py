"""Benchmarks of `minorch run` against this machine's own process-spawn limit.

Run: `python bench/bench_run.py [--repeat 5]`. Prints a markdown table; results go in
bench/RESULTS.md with the machine and date. Every number is also given as a ratio to the
raw limit measured in the same run (Popen of `true`, 2 in flight), since machines are noisy.

(a) 1000 no-op shell tasks, parallelism 8     goal >= 300 tasks/s
(b) 200-task chain: gap between one task's end and the next one's start   goal median <= 10 ms, max <= 50 ms
(c) 20-task chain, one-shot `minorch run` wall time (process start to exit)   goal <= 0.7 s
(d) 1000 no-op Python tasks, parallelism 8

`--secrets` defines a secret variable in the project, so every try's output passes through
the masking relay (`minorch/executors/relay.py`): compare with a run without it.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def raw_spawn_rate(count: int = 2000, in_flight: int = 2) -> float:
    started = time.perf_counter()
    running: list[subprocess.Popen] = []
    for _ in range(count):
        if len(running) >= in_flight:
            running.pop(0).wait()
        running.append(subprocess.Popen(["true"]))
    for child in running:
        child.wait()
    return count / (time.perf_counter() - started)


SECRETS = False  # --secrets: every try may see a secret, so its output goes through the masking relay
SECRETS_TOML = '\n[variables]\napi_token = { env = "BENCH_TOKEN" }\n'


def project(root: Path, toml: str, parallelism: int = 8) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "minorch.toml").write_text(
        f'[minorch]\nparallelism = {parallelism}\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n'
        + (SECRETS_TOML if SECRETS else "")
    )
    (root / "dags").mkdir(exist_ok=True)
    (root / "dags" / "bench.toml").write_text(toml)
    return root


def fan_toml(count: int) -> str:
    lines = ["[dags.bench]", ""]
    for i in range(count):
        lines += [f"[dags.bench.tasks.t{i:04d}]", 'command = "true"', ""]
    return "\n".join(lines)


def chain_toml(count: int) -> str:
    lines = ["[dags.bench]", ""]
    for i in range(count):
        lines += [f"[dags.bench.tasks.t{i:04d}]", 'command = "true"']
        if i:
            lines.append(f'after = ["t{i - 1:04d}"]')
        lines.append("")
    return "\n".join(lines)


def python_fan(root: Path, count: int) -> None:
    (root / "dags" / "bench.toml").unlink()
    (root / "noop.py").write_text("def noop():\n    return None\n")
    lines = ["[dags.bench]", ""]
    for i in range(count):
        lines += [f"[dags.bench.tasks.t{i:04d}]", 'python = "noop:noop"', ""]
    (root / "dags" / "bench.toml").write_text("\n".join(lines))


def run(root: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "minorch", "run", "bench", "--quiet"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_TOKEN": "bench-secret-value"},
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return wall


def attempts(root: Path) -> list[tuple[str, float, float]]:
    db = sqlite3.connect(root / ".minorch" / "minorch.db")
    rows = db.execute(
        "SELECT task_id, start_date, start_date + duration FROM attempts WHERE run_pk = "
        "(SELECT MAX(id) FROM dag_runs) ORDER BY task_id"
    ).fetchall()
    db.close()
    return rows


def first_to_last(rows) -> float:
    return max(r[2] for r in rows) - min(r[1] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--secrets", action="store_true", help="Define a secret: every try goes through the relay.")
    args = parser.parse_args()
    global SECRETS
    SECRETS = args.secrets
    results: dict[str, list[float]] = {k: [] for k in ("raw", "a", "b_med", "b_max", "c", "d")}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for rep in range(args.repeat):
            results["raw"].append(raw_spawn_rate())
            fan = project(base / f"fan{rep}", fan_toml(1000))
            run(fan)
            results["a"].append(1000 / first_to_last(attempts(fan)))
            chain = project(base / f"chain{rep}", chain_toml(200))
            run(chain)
            rows = attempts(chain)
            gaps = [(rows[i + 1][1] - rows[i][2]) * 1000 for i in range(len(rows) - 1)]
            results["b_med"].append(statistics.median(gaps))
            results["b_max"].append(max(gaps))
            short = project(base / f"short{rep}", chain_toml(20))
            results["c"].append(run(short))
            py = project(base / f"py{rep}", "")
            python_fan(py, 1000)
            run(py)
            results["d"].append(1000 / first_to_last(attempts(py)))
            print(f"repetition {rep + 1}/{args.repeat} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in results.items()}
    raw = med["raw"]
    print(f"raw Popen(['true']) with 2 in flight: {raw:,.0f}/s (median of {args.repeat})\n")
    print("| benchmark | median | goal | ratio to raw spawn |")
    print("|---|---|---|---|")
    print(
        f"| (a) 1000 no-op shell tasks, parallelism 8 | {med['a']:,.0f} tasks/s | >= 300 tasks/s "
        f"| {med['a'] / raw:.1%} |"
    )
    print(
        f"| (b) 200-task chain, end-to-start gap | median {med['b_med']:.1f} ms, max {med['b_max']:.1f} ms "
        f"| <= 10 ms, <= 50 ms | gap x raw rate = {med['b_med'] / 1000 * raw:.1f} spawns |"
    )
    print(f"| (c) 20-task chain, `minorch run` wall | {med['c']:.2f} s | <= 0.7 s | - |")
    print(f"| (d) 1000 no-op Python tasks, parallelism 8 | {med['d']:,.0f} tasks/s | - | {med['d'] / raw:.1%} |")


if __name__ == "__main__":
    main()
