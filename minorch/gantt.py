"""A run's Gantt chart as data: one bar per task (and per copy of a mapped task), the critical path, wall
time against the sum of task times. Pure: stored records and `now` in, plain data out.

Each bar is a list of segments on the run's time axis, in the order they happened:

- `wait`: the task could have started (its upstream tasks had ended, or the run had started) but its
  first try had not: waiting for a slot, a pool, `max_active_tasks`, the scheduler's next look;
- `run`: a try's process ran (for a sensor the scheduler checks itself: the time it waited);
- `retry`: after a failed try, until the next try started (the retry delay and the wait after it).

A running run is drawn up to `now`: a running try's segment, a queued task's wait and an awaited retry
grow with it. The *critical path* is the chain that decided when the run ended: from the task that
ended last, step to the upstream task that ended last, until a task with no upstream. Shortening any
other task does not end the run sooner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .records import Attempt, RunRecord, TaskInstance
from .states import TaskState

WAIT, RUN, RETRY = "wait", "run", "retry"
_LIVE = frozenset({TaskState.SCHEDULED, TaskState.QUEUED})  # ready and not yet started: waiting now


@dataclass(frozen=True)
class Segment:
    kind: str  # WAIT, RUN or RETRY
    start: float  # epoch seconds
    end: float
    try_number: int | None = None  # RUN segments: the try
    outcome: str | None = None  # RUN segments: success, failed, ...; None while it runs

    @property
    def length(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Bar:
    """One task of the run (`map_index` -1), or one copy of a mapped task (`map_index` >= 0).
    A mapped task's bar spans its copies; `copies` holds theirs, folded under it."""

    task_id: str
    map_index: int
    state: str | None  # the task instance's state; None when the run has no such task instance
    segments: tuple[Segment, ...]
    critical: bool = False
    copies: tuple[Bar, ...] = ()

    @property
    def start(self) -> float | None:
        return self.segments[0].start if self.segments else None

    @property
    def end(self) -> float | None:
        return self.segments[-1].end if self.segments else None

    @property
    def busy(self) -> float:
        """Seconds its tries ran (a mapped task: its copies' tries, summed)."""
        if self.copies:
            return sum(copy.busy for copy in self.copies)
        return sum(s.length for s in self.segments if s.kind == RUN)

    @property
    def tries(self) -> int:
        return sum(1 for s in self.segments if s.kind == RUN and s.try_number is not None)

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


@dataclass(frozen=True)
class Gantt:
    dag_id: str
    run_id: str
    state: str
    origin: float | None  # the time axis starts here: the run's start (or its first try); None: nothing ran
    end: float | None  # and ends here: the run's end, or `now` while it runs
    bars: tuple[Bar, ...]
    critical: tuple[str, ...] = field(default=())  # task ids, first to last
    live: bool = False  # the run has not finished: drawn up to `now`

    @property
    def wall(self) -> float:
        """Seconds from the run's start to its end (or to now)."""
        return 0.0 if self.origin is None or self.end is None else self.end - self.origin

    @property
    def busy(self) -> float:
        """The sum of every try's running time: more than `wall` when tasks ran in parallel."""
        return sum(bar.busy for bar in self.bars)

    def bar(self, task_id: str) -> Bar | None:
        return next((b for b in self.bars if b.task_id == task_id), None)

    def to_dict(self) -> dict:
        """Plain JSON-ready data; times as seconds from `origin`."""

        def offset(stamp: float) -> float:
            return round(stamp - (self.origin or 0.0), 3)

        def bar_dict(bar: Bar) -> dict:
            out = {
                "task_id": bar.task_id,
                "map_index": bar.map_index,
                "state": bar.state,
                "critical": bar.critical,
                "start": None if bar.start is None else offset(bar.start),
                "end": None if bar.end is None else offset(bar.end),
                "busy": round(bar.busy, 3),
                "segments": [
                    {
                        "kind": s.kind,
                        "start": offset(s.start),
                        "end": offset(s.end),
                        **({"try": s.try_number, "outcome": s.outcome} if s.kind == RUN else {}),
                    }
                    for s in bar.segments
                ],
            }
            if bar.copies:
                out["copies"] = [bar_dict(c) for c in bar.copies]
            return out

        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state,
            "live": self.live,
            "origin": self.origin,
            "wall": round(self.wall, 3),
            "busy": round(self.busy, 3),
            "critical_path": list(self.critical),
            "bars": [bar_dict(b) for b in self.bars],
        }


def gantt(
    run: RunRecord,
    order: Sequence[str],
    upstream: Mapping[str, Sequence[str]],
    tis: Mapping[tuple[str, int], TaskInstance],
    attempts: Iterable[Attempt],
    now: float,
) -> Gantt:
    """The chart of `run`. `order`: task ids top to bottom (the DAG's topological order; tasks with
    records but not in `order` follow it); `upstream`: each task's upstream ids (empty when the DAG is no
    longer loaded: then every task counts as ready from the run's start); `tis`: the run's task
    instances by (task id, map index); `attempts`: the run's tries; `now`: where a live run's bars end."""
    live = not run.state.finished
    tries: dict[tuple[str, int], list[Attempt]] = {}
    for attempt in sorted(attempts, key=lambda a: (a.start_date or 0.0, a.try_number)):
        tries.setdefault((attempt.task_id, attempt.map_index), []).append(attempt)
    starts = [a.start_date for group in tries.values() for a in group if a.start_date is not None]
    origin = run.start_date if run.start_date is not None else min(starts, default=None)
    task_ids = list(order) + sorted({tid for tid, _ in (*tis, *tries)} - set(order))
    ended: dict[str, float] = {}  # task id -> when it ended, for its downstream's `ready`
    bars: list[Bar] = []
    for task_id in task_ids:
        ups = [ended[u] for u in upstream.get(task_id, ()) if u in ended]
        ready = max(ups, default=origin)
        if upstream.get(task_id) and len(ups) < len(upstream[task_id]):
            ready = None  # an upstream task has not ended: this one was not ready
        ti = tis.get((task_id, -1))
        copies = sorted(index for tid, index in {*tis, *tries} if tid == task_id and index >= 0)
        if copies:
            expanded = ti.start_date if ti is not None and ti.start_date is not None else ready
            children = tuple(
                _bar(task_id, i, tis.get((task_id, i)), tries.get((task_id, i), []), expanded, live, now)
                for i in copies
            )
            bar = _fold(task_id, ti, children, ready)
        else:
            bar = _bar(task_id, -1, ti, tries.get((task_id, -1), []), ready, live, now)
        finished = ti.state.finished if ti is not None else not live
        end = bar.end if bar.end is not None else (ti.end_date if ti is not None else None)
        if finished and end is not None:
            ended[task_id] = end
        bars.append(bar)
    critical = _critical_path(bars, upstream)
    ends = [b.end for b in bars if b.end is not None]
    end = now if live else (run.end_date if run.end_date is not None else max(ends, default=None))
    if end is not None and ends:
        end = max(end, *ends)
    if origin is None:
        end = None
    bars = [Bar(b.task_id, b.map_index, b.state, b.segments, b.task_id in critical, b.copies) for b in bars]
    return Gantt(run.dag_id, run.run_id, str(run.state), origin, end, tuple(bars), critical, live)


def _bar(
    task_id: str,
    map_index: int,
    ti: TaskInstance | None,
    tries: list[Attempt],
    ready: float | None,
    live: bool,
    now: float,
) -> Bar:
    state = str(ti.state) if ti is not None else None
    segments: list[Segment] = []
    previous_end: float | None = None
    for attempt in tries:
        start = attempt.start_date
        if start is None:
            continue
        if previous_end is None:
            if ready is not None and start > ready:
                segments.append(Segment(WAIT, ready, start))
        elif start > previous_end:
            segments.append(Segment(RETRY, previous_end, start))
        end = attempt.end_date if attempt.end_date is not None else (now if live else start)
        segments.append(Segment(RUN, start, max(start, end), attempt.try_number, attempt.outcome))
        previous_end = end
    if ti is not None and not tries and ti.start_date is not None and ti.state is not TaskState.UP_FOR_RETRY:
        # a sensor the scheduler checks itself: no try, the time it waited
        end = ti.end_date if ti.end_date is not None else (now if live else ti.start_date)
        if ready is not None and ti.start_date > ready:
            segments.append(Segment(WAIT, ready, ti.start_date))
        segments.append(Segment(RUN, ti.start_date, max(ti.start_date, end)))
    elif live and ti is not None:
        if ti.state is TaskState.UP_FOR_RETRY and previous_end is not None and now > previous_end:
            segments.append(Segment(RETRY, previous_end, now))
        elif ti.state in _LIVE and not tries and ready is not None and now > ready:
            segments.append(Segment(WAIT, ready, now))
    return Bar(task_id, map_index, state, tuple(segments))


def _fold(task_id: str, ti: TaskInstance | None, copies: tuple[Bar, ...], ready: float | None) -> Bar:
    """A mapped task's own bar: the wait until its first copy started, then one span over its copies."""
    starts = [c.start for c in copies if c.start is not None]
    runs = [s for c in copies for s in c.segments if s.kind in (RUN, RETRY)]
    segments: list[Segment] = []
    if runs:
        first = min(s.start for s in runs)
        if ready is not None and first > ready:
            segments.append(Segment(WAIT, ready, first))
        segments.append(Segment(RUN, first, max(s.end for s in runs)))
    elif starts:
        segments.append(Segment(WAIT, min(starts), max(c.end for c in copies if c.end is not None)))
    return Bar(task_id, -1, str(ti.state) if ti is not None else None, tuple(segments), copies=copies)


def _critical_path(bars: list[Bar], upstream: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    ends = {b.task_id: b.end for b in bars if b.end is not None and any(s.kind == RUN for s in b.segments)}
    if not ends:
        return ()
    order = {b.task_id: i for i, b in enumerate(bars)}
    current = max(ends, key=lambda t: (ends[t], order[t]))
    path = [current]
    while True:
        ups = [u for u in upstream.get(current, ()) if u in ends and u not in path]
        if not ups:
            break
        current = max(ups, key=lambda t: (ends[t], order[t]))
        path.append(current)
    return tuple(reversed(path))
