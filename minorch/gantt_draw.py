"""Drawing a `Gantt` (see gantt.py): bars as character cells (shared by `minorch gantt` and the TUI),
as plain text for a terminal of a given width, and as a standalone SVG file of plain rectangles."""

from __future__ import annotations

import math
from html import escape

from .durations import format_duration
from .gantt import RETRY, RUN, WAIT, Bar, Gantt, Segment

CHARS = {RUN: "█", WAIT: "░", RETRY: "╌"}  # one character per cell kind
_PAINT_ORDER = {WAIT: 0, RETRY: 1, RUN: 2}  # where segments share a cell, the later kind wins
LABEL_MAX = 28  # widest task label column, in cells


def cells(gantt: Gantt, bar: Bar, width: int) -> list[Segment | None]:
    """`width` cells across the run's time axis: the segment each cell shows, or None. A segment covers
    the cells its time overlaps; a try shorter than a cell still gets one."""
    out: list[Segment | None] = [None] * width
    if gantt.origin is None or width <= 0:
        return out
    span = gantt.wall or 1.0
    for segment in sorted(bar.segments, key=lambda s: _PAINT_ORDER[s.kind]):
        first = min(width - 1, max(0, math.floor((segment.start - gantt.origin) / span * width)))
        last = min(width, math.ceil((segment.end - gantt.origin) / span * width))
        if segment.length <= 0 or last <= first:
            if segment.kind != RUN:
                continue
            last = first + 1
        for i in range(first, last):
            out[i] = segment
    return out


def rows(gantt: Gantt, expanded: frozenset[str] | set[str] = frozenset()) -> list[tuple[Bar, int]]:
    """Bars top to bottom as (bar, depth): the copies of a mapped task in `expanded` follow it at depth 1."""
    out: list[tuple[Bar, int]] = []
    for bar in gantt.bars:
        out.append((bar, 0))
        if bar.task_id in expanded:
            out += [(copy, 1) for copy in bar.copies]
    return out


def label(bar: Bar, depth: int, folded: bool = True) -> str:
    """ "extract", "report [3 copies]" (folded), "  [2]" (a copy)."""
    if depth:
        return f"  [{bar.map_index}]"
    if bar.copies:
        return f"{bar.task_id} [{len(bar.copies)} {'copy' if len(bar.copies) == 1 else 'copies'}]"
    return bar.task_id


def summary(gantt: Gantt) -> str:
    """ "wall 3m12s · sum of task times 5m40s (1.8x parallel) · critical path: a → b → c"."""
    text = f"wall {format_duration(gantt.wall)} · sum of task times {format_duration(gantt.busy)}"
    if gantt.wall > 0 and gantt.busy > gantt.wall * 1.05:
        text += f" ({gantt.busy / gantt.wall:.1f}x in parallel)"
    if gantt.critical:
        text += " · critical path: " + " → ".join(gantt.critical)
    return text


def axis(gantt: Gantt, width: int) -> str:
    """A line of `width` cells with the elapsed time at its start, middle and end."""
    line = [" "] * width
    marks = [(0, "0s"), (width // 2, format_duration(gantt.wall / 2)), (width, format_duration(gantt.wall))]
    for column, text in marks:
        at = max(0, min(width - len(text), column - len(text) // 2 if column else 0))
        line[at : at + len(text)] = text
    return "".join(line)


LEGEND = f"{CHARS[RUN]} running  {CHARS[WAIT]} waiting to start  {CHARS[RETRY]} retry delay  * critical path"


def text(gantt: Gantt, width: int, *, copies: bool = False) -> str:
    """The chart as lines of at most `width` characters (labels, bars, each bar's running time)."""
    expanded = {b.task_id for b in gantt.bars if b.copies} if copies else set()
    listed = rows(gantt, expanded)
    head = f"{gantt.dag_id} › {gantt.run_id}  {gantt.state}{'  (running: drawn up to now)' if gantt.live else ''}"
    if gantt.origin is None:
        return f"{head}\nnothing has run yet"
    names = [("* " if bar.critical and not depth else "  ") + label(bar, depth) for bar, depth in listed]
    left = min(LABEL_MAX, max(len(n) for n in names))
    times = [format_duration(bar.busy) for bar, _ in listed]
    right = max(len(t) for t in times)
    inner = max(10, width - left - right - 2)
    lines = [head, summary(gantt), " " * (left + 1) + axis(gantt, inner)]
    for (bar, _depth), name, took in zip(listed, names, times, strict=True):
        drawn = "".join(CHARS[c.kind] if c else " " for c in cells(gantt, bar, inner))
        lines.append(f"{name[:left].ljust(left)} {drawn} {took.rjust(right)}")
    lines.append(LEGEND)
    return "\n".join(lines)


_FILL = {RUN: "#3b7dd8", WAIT: "#d9d9d9", RETRY: "#f0b429"}
_STATE_FILL = {"failed": "#d64545", "upstream_failed": "#e8833a", "skipped": "#e05fa4"}


def svg(gantt: Gantt, *, width: int = 960, copies: bool = True) -> str:
    """A standalone SVG: one row per bar, rectangles per segment (a failed try in red), critical-path
    rows outlined, an axis in elapsed time and the summary line."""
    expanded = {b.task_id for b in gantt.bars if b.copies} if copies else set()
    listed = rows(gantt, expanded)
    row_h, top, left = 22, 58, 200
    plot = width - left - 80
    height = top + row_h * len(listed) + 40
    span = gantt.wall or 1.0
    origin = gantt.origin or 0.0
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="20" font-size="14" font-weight="bold">{escape(gantt.dag_id)} › '
        f"{escape(gantt.run_id)} ({escape(gantt.state)})</text>",
        f'<text x="10" y="40">{escape(summary(gantt))}</text>',
    ]
    for i in range(5):
        x = left + plot * i / 4
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 34}" stroke="#eeeeee"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 20}" text-anchor="middle">{format_duration(span * i / 4)}</text>')
    for row, (bar, depth) in enumerate(listed):
        y = top + row * row_h
        name = label(bar, depth)
        weight = ' font-weight="bold"' if bar.critical and not depth else ""
        out.append(f'<text x="{10 + 12 * depth}" y="{y + 15}"{weight}>{escape(name)}</text>')
        for segment in bar.segments:
            x = left + (segment.start - origin) / span * plot
            w = max(1.0, segment.length / span * plot)
            fill = _FILL[segment.kind]
            if segment.kind == RUN and segment.outcome in _STATE_FILL:
                fill = _STATE_FILL[segment.outcome]
            title = f"{segment.kind} {format_duration(segment.length)}"
            if segment.try_number is not None:
                title += f", try {segment.try_number} {segment.outcome or 'running'}"
            out.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{fill}">'
                f"<title>{escape(title)}</title></rect>"
            )
        if bar.critical and not depth and bar.start is not None and bar.end is not None:
            x = left + (bar.start - origin) / span * plot
            w = max(1.0, (bar.end - bar.start) / span * plot)
            out.append(
                f'<rect x="{x:.1f}" y="{y + 1}" width="{w:.1f}" height="{row_h - 2}" fill="none" '
                'stroke="#222222" stroke-width="2"/>'
            )
        out.append(f'<text x="{left + plot + 8}" y="{y + 15}">{format_duration(bar.busy)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
