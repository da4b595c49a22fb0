"""What the pieces of a shell try's launch cost the scheduler, in CPU time of its thread.

Run: `python bench/bench_launch_parts.py [--repo PATH]` (`--repo`: another checkout of minorch, to
compare commits; run both in turns). Prints one line; results go in bench/RESULTS.md with the
machine, date and load average.

The pieces: the try's environment (catalog of variables and connections, base environment, the
resolver its templates use), opening a new log file in a new folder, the child's start time when its
spawn spans a clock tick, and making and removing the try's cgroup (with another try's cgroup in
flight, as at parallelism 2 and more; skipped where this process may not make cgroups). The limit,
measured in the same run: the scheduler-side CPU of one raw `Popen(["true"])`. CPU time of one
thread moves less with the machine's load than wall time does; each figure is the median of 5
rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def per_call(step: Callable[[int], object], count: int) -> float:
    """Median over 5 rounds of the thread's CPU microseconds per call of `step`."""
    rounds = []
    for _ in range(5):
        began = time.thread_time()
        for i in range(count):
            step(i)
        rounds.append((time.thread_time() - began) / count * 1e6)
    return statistics.median(rounds)


def measure() -> dict[str, float]:
    import minorch.taskenv as taskenv
    from minorch.config import load_settings
    from minorch.executors import local, proctree
    from minorch.executors.cgroups import TryGroups
    from minorch.store import Store

    root = Path(tempfile.mkdtemp(prefix="minorch-parts-"))
    (root / "dags").mkdir()
    (root / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\nstate_dir = ".minorch"\n')
    settings = load_settings(root / "minorch.toml")
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_path)
    found: dict[str, float] = {}
    found["raw Popen (the limit)"] = per_call(lambda i: subprocess.Popen(["true"]).wait(), 200)
    if hasattr(taskenv, "shared_environment"):  # parts made once, a resolver per try
        shared: list = [None]

        def environment(i: int) -> object:
            shared[0] = taskenv.shared_environment(shared[0], settings, store)
            made = taskenv.TryEnvironment(shared[0])
            return made.template_names(), made.secrets(), made.base

    else:  # everything made per try

        def environment(i: int) -> object:
            made = taskenv.TryEnvironment(settings, store)  # type: ignore[call-arg]
            return made.template_names(), made.secrets(), made.base

    found["try environment"] = per_call(environment, 500)
    logs = root / "logs" / "dag" / "run"
    found["new log file in a new folder"] = per_call(
        lambda i: os.close(local._open_log(logs / f"t{time.monotonic_ns()}" / "1.log")), 300
    )
    child = subprocess.Popen(["sleep", "30"])
    now = proctree.boot_ticks()
    if now is not None:
        tick, pid = now, child.pid
        found["start time, spawn across a tick"] = per_call(lambda i: proctree.create_time_of(pid, tick - 1, tick), 500)
    child.kill()
    child.wait()
    groups = TryGroups.probe(settings.state_dir)
    if groups is not None:
        rounds = []
        for number in range(5):
            groups.prepare("other")  # another try in flight
            began = time.thread_time()
            for i in range(300):
                groups.prepare(f"r{number}t{i}")
                groups.remove(f"r{number}t{i}")
            rounds.append((time.thread_time() - began) / 300 * 1e6)
            groups.remove("other")
        found["cgroup made and removed"] = statistics.median(rounds)
        groups.close()
    store.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO, help="The minorch checkout to measure.")
    args = parser.parse_args()
    if os.environ.get("MINORCH_PARTS_CHILD") != "1":  # measure in a fresh process importing from --repo
        env = {**os.environ, "PYTHONPATH": str(args.repo), "MINORCH_PARTS_CHILD": "1"}
        raise SystemExit(subprocess.run([sys.executable, __file__], env=env).returncode)
    found = measure()
    limit = found["raw Popen (the limit)"]
    parts = "; ".join(f"{name} {us:.0f} µs ({us / limit:.2f})" for name, us in found.items() if "limit" not in name)
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load {os.getloadavg()[0]:.1f}, "
        f"minorch from {os.environ['PYTHONPATH']}: raw Popen {limit:.0f} µs; {parts}"
    )


if __name__ == "__main__":
    main()
