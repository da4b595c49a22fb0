"""The run Gantt as data (gantt.py) and as cells, text and SVG (gantt_draw.py): table tests on plain records."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from conftest import try_row

from minorch.gantt import RETRY, RUN, WAIT, gantt
from minorch.gantt_draw import cells, rows, svg, text
from minorch.states import RunState, TaskState
from minorch.store import RunRecord, TaskInstance

T0 = 1_700_000_000.0


def run(state: str = "success", start: float | None = T0, end: float | None = T0 + 100) -> RunRecord:
    return RunRecord(
        1, "etl", "manual__x", "manual", "2024-05-01T00:00:00+00:00", None, None, RunState(state), {}, T0, start, end
    )


def ti(task_id: str, state: str = "success", map_index: int = -1, start=None, end=None) -> TaskInstance:
    return TaskInstance(1, task_id, map_index, TaskState(state), 1, 0, None, start, end, None, None)


def attempt(task_id: str, start: float, end: float | None, try_number: int = 1, outcome="success", map_index=-1):
    return try_row(
        f"{task_id}-{map_index}-{try_number}",
        1,
        task_id,
        T0 + start,
        map_index=map_index,
        try_number=try_number,
        end_date=None if end is None else T0 + end,
        duration=None if end is None else end - start,
        outcome=None if end is None else outcome,
    )


def spans(bar) -> list[tuple[str, float, float]]:
    return [(s.kind, round(s.start - T0, 3), round(s.end - T0, 3)) for s in bar.segments]


# a -> (b, c) -> d: b and c in parallel, c fails once and is retried, d waits for the slower branch
DIAMOND = {"b": ["a"], "c": ["a"], "d": ["b", "c"]}
DIAMOND_TIS = {(t, -1): ti(t) for t in "abcd"}
DIAMOND_TRIES = [
    attempt("a", 1, 11),
    attempt("b", 12, 30),
    attempt("c", 11, 20, 1, "failed"),
    attempt("c", 25, 45, 2),
    attempt("d", 50, 60),
]


@pytest.mark.parametrize(
    "task,expected",
    [
        ("a", [(WAIT, 0, 1), (RUN, 1, 11)]),  # ready when the run started
        ("b", [(WAIT, 11, 12), (RUN, 12, 30)]),  # ready when a ended
        ("c", [(RUN, 11, 20), (RETRY, 20, 25), (RUN, 25, 45)]),  # started at once, failed, retried
        ("d", [(WAIT, 45, 50), (RUN, 50, 60)]),  # ready when the later of b and c ended
    ],
)
def test_segments_wait_from_the_moment_upstream_ended_then_run_and_retry(task, expected):
    chart = gantt(run(), "abcd", DIAMOND, DIAMOND_TIS, DIAMOND_TRIES, now=T0 + 1000)
    assert spans(chart.bar(task)) == expected


def test_the_critical_path_follows_the_upstream_that_ended_last_and_wall_and_sum_differ_when_parallel():
    chart = gantt(run(end=T0 + 61), "abcd", DIAMOND, DIAMOND_TIS, DIAMOND_TRIES, now=T0 + 1000)
    assert chart.critical == ("a", "c", "d")
    assert [b.task_id for b in chart.bars if b.critical] == ["a", "c", "d"]
    assert chart.wall == 61
    assert chart.busy == 10 + 18 + 9 + 20 + 10  # every try's running time, the failed one too
    assert chart.bar("c").tries == 2 and chart.bar("c").busy == 29


@pytest.mark.parametrize(
    "states,tries,now,expected",
    [
        # a running try grows to now
        ({"a": "running"}, [attempt("a", 2, None)], 30, {"a": [(WAIT, 0, 2), (RUN, 2, 30)]}),
        # a failed try awaiting its retry: the retry delay grows to now
        ({"a": "up_for_retry"}, [attempt("a", 0, 5, 1, "failed")], 9, {"a": [(RUN, 0, 5), (RETRY, 5, 9)]}),
        # queued, no try yet: waiting since its upstream ended
        (
            {"a": "success", "b": "queued"},
            [attempt("a", 0, 4)],
            10,
            {"a": [(RUN, 0, 4)], "b": [(WAIT, 4, 10)]},
        ),
        # upstream still running: the downstream task was never ready, so it has no bar
        ({"a": "running", "b": "none"}, [attempt("a", 0, None)], 7, {"a": [(RUN, 0, 7)], "b": []}),
    ],
)
def test_a_live_run_is_drawn_up_to_now(states, tries, now, expected):
    tis = {(t, -1): ti(t, s) for t, s in states.items()}
    chart = gantt(run("running", end=None), list(states), {"b": ["a"]}, tis, tries, now=T0 + now)
    assert chart.live and chart.end == T0 + now
    for task, segments in expected.items():
        assert spans(chart.bar(task)) == segments


def test_a_mapped_task_spans_its_copies_which_fold_under_it():
    tis = {
        ("split", -1): ti("split"),
        ("work", -1): ti("work", start=T0 + 5),
        **{("work", i): ti("work", map_index=i) for i in range(3)},
    }
    tries = [
        attempt("split", 0, 5),
        attempt("work", 6, 10, map_index=0),
        attempt("work", 6, 20, map_index=1),
        attempt("work", 12, 16, map_index=2),
    ]
    chart = gantt(run(end=T0 + 20), ["split", "work"], {"work": ["split"]}, tis, tries, now=T0 + 99)
    work = chart.bar("work")
    assert spans(work) == [(WAIT, 5, 6), (RUN, 6, 20)]
    assert [c.map_index for c in work.copies] == [0, 1, 2]
    assert spans(work.copies[2]) == [(WAIT, 5, 12), (RUN, 12, 16)]  # ready when the task expanded
    assert work.busy == 4 + 14 + 4
    assert chart.critical == ("split", "work")
    assert [b.label for b, _ in rows(chart)] == ["split", "work"]
    assert [b.label for b, _ in rows(chart, {"work"})] == ["split", "work", "work[0]", "work[1]", "work[2]"]


def test_a_run_where_nothing_ran_has_no_axis():
    chart = gantt(run("queued", start=None, end=None), ["a"], {}, {("a", -1): ti("a", "none")}, [], now=T0)
    assert chart.origin is None and chart.wall == 0 and chart.critical == ()
    assert "nothing has run yet" in text(chart, 80)


def test_tasks_no_longer_in_the_dag_follow_those_that_are():
    tis = {("a", -1): ti("a"), ("gone", -1): ti("gone")}
    chart = gantt(run(), ["a"], {}, tis, [attempt("gone", 0, 1), attempt("a", 1, 2)], now=T0 + 5)
    assert [b.task_id for b in chart.bars] == ["a", "gone"]


@pytest.mark.parametrize("width", [10, 37, 100])
def test_cells_are_proportional_to_time_within_one_cell(width):
    chart = gantt(run(end=T0 + 60), "abcd", DIAMOND, DIAMOND_TIS, DIAMOND_TRIES, now=T0)
    for bar in chart.bars:
        drawn = [c.kind if c else None for c in cells(chart, bar, width)]
        assert len(drawn) == width
        for kind in (RUN, WAIT, RETRY):
            seconds = sum(s.length for s in bar.segments if s.kind == kind)
            count = drawn.count(kind)
            assert abs(count - seconds / 60 * width) <= 2 * sum(1 for s in bar.segments if s.kind == kind)
        first = next(i for i, kind in enumerate(drawn) if kind)
        assert abs(first - (bar.start - T0) / 60 * width) <= 1


def test_the_text_fits_the_width_and_marks_the_critical_path():
    chart = gantt(run(end=T0 + 60), "abcd", DIAMOND, DIAMOND_TIS, DIAMOND_TRIES, now=T0)
    for width in (60, 80, 120):
        lines = text(chart, width).splitlines()
        assert all(len(line) <= width for line in lines[2:-1]), lines
    lines = text(chart, 80).splitlines()
    assert "critical path: a → c → d" in lines[1] and "wall 1m" in lines[1] and "sum of task times 1m7s" in lines[1]
    bars = {line[2:].split()[0]: line for line in lines[3:-1]}
    assert lines[3].startswith("* a ") and lines[4].startswith("  b ") and lines[5].startswith("* c ")
    assert "╌" in bars["c"] and "░" in bars["b"] and bars["b"].index("█") > bars["a"].index("█")


def test_svg_is_well_formed_with_one_rectangle_per_segment_and_a_failed_try_in_red():
    chart = gantt(run(end=T0 + 60), "abcd", DIAMOND, DIAMOND_TIS, DIAMOND_TRIES, now=T0)
    root = ET.fromstring(svg(chart))
    ns = "{http://www.w3.org/2000/svg}"
    segment_rects = [r for r in root.iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(segment_rects) == sum(len(b.segments) for b in chart.bars)
    assert any(r.get("fill") == "#d64545" for r in segment_rects)  # c's failed try
    outlined = [r for r in root.iter(f"{ns}rect") if r.get("stroke")]
    assert len(outlined) == 3  # a, c, d


def test_json_offsets_are_seconds_from_the_runs_start():
    chart = gantt(run(end=T0 + 61), "abcd", DIAMOND, DIAMOND_TIS, DIAMOND_TRIES, now=T0)
    data = chart.to_dict()
    assert data["critical_path"] == ["a", "c", "d"] and data["wall"] == 61
    c = next(b for b in data["bars"] if b["task_id"] == "c")
    assert c["segments"][1] == {"kind": "retry", "start": 20, "end": 25}
    assert c["segments"][2]["try"] == 2 and c["critical"]
