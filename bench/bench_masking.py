"""What masking costs: tries through the masking relay against tries that write their log directly.

    python bench/bench_masking.py [--tasks 500] [--megabytes 50] [--reps 3]

Measures in one run, with the real LocalExecutor:
(a) tries per second of `true`, 8 in flight, without and with `secrets` (the relay's two
    pipes, their registration with the selector, the final drain);
(b) one try that prints `--megabytes` MB of log lines: its wall time without and with
    the relay (the scheduler's thread then reads and writes every byte), as MB/s;
(c) `Masker.feed` alone on 64 KB chunks of log lines with 3 secrets, in MB/s.
Prints a markdown table of medians over the repetitions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from minorch.executors.local import Launch, LocalExecutor  # noqa: E402
from minorch.masking import Masker  # noqa: E402

SECRETS = ("hunter2-correct-horse", "AKIAEXAMPLEKEY00001", "p@ss:w0rd/with-chars")


def spawn_rate(logs: Path, tasks: int, secrets: tuple[str, ...] | None) -> float:
    executor = LocalExecutor()
    flying: deque[str] = deque()
    begun = time.perf_counter()
    try:
        for i in range(tasks):
            while len(flying) >= 8:
                executor.wait(1.0)
                for done in executor.poll():
                    flying.remove(done.attempt_id)
            executor.start(Launch(f"t{i}", ["true"], dict(os.environ), None, logs / f"{i}.log", None, secrets=secrets))
            flying.append(f"t{i}")
        while flying:
            executor.wait(1.0)
            for done in executor.poll():
                flying.remove(done.attempt_id)
    finally:
        executor.close()
    return tasks / (time.perf_counter() - begun)


def big_output(logs: Path, megabytes: int, secrets: tuple[str, ...] | None) -> float:
    command = f"yes 'an ordinary log line, nothing secret in it, 2024-01-15 12:00:00' | head -c {megabytes * 10**6}"
    executor = LocalExecutor()
    begun = time.perf_counter()
    try:
        executor.start(
            Launch("big", ["sh", "-c", command], dict(os.environ), None, logs / "big.log", None, secrets=secrets)
        )
        exits: list = []
        while not exits:
            executor.wait(1.0)
            exits = executor.poll()
    finally:
        executor.close()
    (logs / "big.log").unlink()
    return megabytes / (time.perf_counter() - begun)


def masker_rate(megabytes: int) -> float:
    chunk = (b"an ordinary log line, nothing secret in it, 2024-01-15 12:00:00\n" * 1100)[:65536]
    masker = Masker(SECRETS)
    count = megabytes * 10**6 // len(chunk)
    begun = time.perf_counter()
    for _ in range(count):
        masker.feed(chunk)
    return count * len(chunk) / 10**6 / (time.perf_counter() - begun)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rows: dict[str, list[float]] = {key: [] for key in ("a0", "a1", "b0", "b1", "c")}
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp)
        for _ in range(args.reps):
            rows["a0"].append(spawn_rate(logs, args.tasks, None))
            rows["a1"].append(spawn_rate(logs, args.tasks, SECRETS))
            rows["b0"].append(big_output(logs, args.megabytes, None))
            rows["b1"].append(big_output(logs, args.megabytes, SECRETS))
            rows["c"].append(masker_rate(args.megabytes))
    med = {key: statistics.median(values) for key, values in rows.items()}
    print(f"load average at the end: {os.getloadavg()[0]:.1f}\n")
    print("| benchmark | direct to the log | through the masking relay | relay / direct |")
    print("|---|---:|---:|---:|")
    print(
        f"| (a) `true`, 8 in flight | {med['a0']:,.0f} tries/s | {med['a1']:,.0f} tries/s "
        f"| {med['a1'] / med['a0']:.2f} |"
    )
    print(
        f"| (b) one try printing {args.megabytes} MB | {med['b0']:,.0f} MB/s | {med['b1']:,.0f} MB/s "
        f"| {med['b1'] / med['b0']:.2f} |"
    )
    print(f"| (c) `Masker.feed` alone, 64 KB chunks, 3 secrets | - | {med['c']:,.0f} MB/s | - |")


if __name__ == "__main__":
    main()
