"""A DAG drawn left to right in text: tasks in columns by depth, edges in box-drawing lines.

A layered (Sugiyama-style) drawing, small enough to read in one go:

1. a task's layer is its depth: the longest path from a task without upstream;
2. an edge that skips layers gets a hidden waypoint in each layer it crosses;
3. tasks in a layer are ordered by the mean position of their neighbours (a few sweeps
   down and up), which removes most crossings;
4. a task sits on the row of its upstream tasks' mean (rows are even: a blank row
   between tasks), so a chain is one straight line;
5. the edges into a task share one vertical channel in the gap before it (the edges out
   of a task to tasks with no other upstream share one too); each cell of the canvas
   collects line directions (up, down, left, right) and becomes ─ │ ┌ ┐ └ ┘ ├ ┤ ┬ ┴ ┼.

    ■ extract ──┬──▸ ■ transform ──▸ ■ test ──┐
                │                             ├──▸ ■ publish
                └──▸ ■ report ────────────────┘

Node labels are `"<glyph> <task id>"`: the caller draws them at `nodes[task_id]`.

Task groups are boxes: the tasks of one group are kept together in each layer, with two
more blank rows between a group and its neighbours, and a dim box is drawn around them
with the group id on its top border. A group whose box would hold a task of another
group (a layout that cannot keep it together) is not boxed: its tasks keep their ids,
which start with the group id.

                  ╭─ extract ──────────────────────╮
     ■ start  ───▸│ ■ extract.a  ───▸  ■ extract.b │───▸  ■ load
                  ╰────────────────────────────────╯
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

# A node of the drawing: a task id, or a waypoint (source, target, layer) of an edge crossing a layer.
Node: TypeAlias = "str | tuple[str, str, int]"

UP, DOWN, LEFT, RIGHT = 1, 2, 4, 8
BOX = {
    LEFT | RIGHT: "─",
    LEFT: "─",
    RIGHT: "─",
    UP | DOWN: "│",
    UP: "│",
    DOWN: "│",
    DOWN | RIGHT: "┌",
    DOWN | LEFT: "┐",
    UP | RIGHT: "└",
    UP | LEFT: "┘",
    UP | DOWN | RIGHT: "├",
    UP | DOWN | LEFT: "┤",
    LEFT | RIGHT | DOWN: "┬",
    LEFT | RIGHT | UP: "┴",
    UP | DOWN | LEFT | RIGHT: "┼",
}
ARROW = "▸"
SWEEPS = 4
CORNERS = "╭╮╰╯"


@dataclass(frozen=True)
class Layout:
    """`lines`: the edges, one string per row, all `width` long; `nodes`: task id -> (row, column).

    `order` is reading order (by layer, then row): where j/k move.
    """

    lines: tuple[str, ...]
    nodes: Mapping[str, tuple[int, int]]
    order: tuple[str, ...]
    width: int


def label_width(task_id: str) -> int:
    return len(task_id) + 2  # glyph, space, id


def layout(
    task_ids: Sequence[str], upstream: Mapping[str, Sequence[str]], groups: Mapping[str, str] | None = None
) -> Layout:
    """Lay out `task_ids` (upstream before downstream) with their `upstream` edges; `groups` maps a task
    to the id of the (innermost) task group it is in."""
    if not task_ids:
        return Layout((), {}, (), 0)
    groups = {t: g for t, g in (groups or {}).items() if g and t in task_ids}
    depth: dict[str, int] = {}
    for tid in task_ids:
        depth[tid] = max((depth[u] + 1 for u in upstream.get(tid, ()) if u in depth), default=0)
    # Nodes are task ids or waypoints (source, target, layer); edges join adjacent layers only.
    layers: list[list[Node]] = [[] for _ in range(max(depth.values()) + 1)]
    preds: dict[Node, list[Node]] = {tid: [] for tid in task_ids}
    for tid in task_ids:
        layers[depth[tid]].append(tid)
    for tid in task_ids:
        for up in upstream.get(tid, ()):
            if up not in depth:
                continue
            prev: Node = up
            for crossed in range(depth[up] + 1, depth[tid]):
                waypoint = (up, tid, crossed)
                layers[crossed].append(waypoint)
                preds[waypoint] = [prev]
                prev = waypoint
            preds[tid].append(prev)
    succs: dict[Node, list[Node]] = {node: [] for node in preds}
    for node, befores in preds.items():
        for before in befores:
            succs[before].append(node)
    _order(layers, preds, succs)
    if groups:
        for i, layer in enumerate(layers):  # a group's tasks together, where its first one is
            layers[i] = _grouped(layer, groups)
    rows = _rows(layers, preds, groups)
    drawn = _draw(layers, preds, rows, margin=1 if groups else 0)
    return _boxed(drawn, groups) if groups else drawn


def _grouped(layer: list[Node], groups: Mapping[str, str]) -> list[Node]:
    """`layer` with the tasks of each group (and the waypoints, as if one group) together, at the place
    of the group's first node."""

    def group_of(node: Node) -> str | None:
        return groups.get(node) if isinstance(node, str) else None

    first: dict[str | None, int] = {}
    for k, node in enumerate(layer):
        first.setdefault(group_of(node), k)
    return sorted(layer, key=lambda node: first[group_of(node)])


def _order(layers: list[list], preds: dict, succs: dict) -> None:
    """Barycenter sweeps: sort each layer by its neighbours' mean position in the layer before (after)."""
    for sweep in range(SWEEPS):
        down = sweep % 2 == 0
        span = range(1, len(layers)) if down else range(len(layers) - 2, -1, -1)
        for i in span:
            other = layers[i - 1] if down else layers[i + 1]
            where = {node: k for k, node in enumerate(other)}
            near = preds if down else succs

            def key(item, where=where, near=near):
                k, node = item
                spots = [where[n] for n in near[node] if n in where]
                return sum(spots) / len(spots) if spots else k

            layers[i] = [node for _k, node in sorted(enumerate(layers[i]), key=key)]


def _rows(layers: list[list], preds: dict, groups: Mapping[str, str]) -> dict:
    """Each node on the even row nearest its upstream mean, keeping layer order and a blank row between
    (three between tasks of different groups, room for their boxes)."""
    rows: dict = {}
    for layer in layers:
        last, last_group = -2, None
        for node in layer:
            ups = [rows[p] for p in preds[node] if p in rows]
            wanted = round(sum(ups) / len(ups) / 2) * 2 if ups else 0
            group = groups.get(node) if isinstance(node, str) else None
            apart = 4 if last >= 0 and group != last_group and (group or last_group) else 2
            rows[node] = max(wanted, last + apart)
            last, last_group = rows[node], group if isinstance(node, str) else last_group
    return rows


def _boxed(drawn: Layout, groups: Mapping[str, str]) -> Layout:
    """Draw a box around each group's tasks (on blank cells only), its id on the top border."""
    lines = [list(line) for line in drawn.lines]
    members: dict[str, list[str]] = {}
    for tid, group in groups.items():
        members.setdefault(group, []).append(tid)
    for group, tids in sorted(members.items()):
        top = min(drawn.nodes[t][0] for t in tids) - 1
        bottom = max(drawn.nodes[t][0] for t in tids) + 1
        left = min(drawn.nodes[t][1] for t in tids) - 2
        right = max(drawn.nodes[t][1] + label_width(t) for t in tids) + 1
        inside = [
            t
            for t, (row, x) in drawn.nodes.items()
            if top <= row <= bottom and left <= x <= right and groups.get(t) != group
        ]
        if inside or top < 0 or bottom >= len(lines):
            continue

        def put(row: int, x: int, char: str, over: str = " ") -> None:
            if 0 <= x < len(lines[row]) and lines[row][x] in over:
                lines[row][x] = char

        for x in range(left + 1, right):
            put(top, x, "─")
            put(bottom, x, "─")
        for row in range(top + 1, bottom):
            put(row, left, "│")
            put(row, right, "│")
        for (row, x), char in zip(((top, left), (top, right), (bottom, left), (bottom, right)), CORNERS, strict=True):
            put(row, x, char)
        for k, char in enumerate(f" {group} "[: max(0, right - left - 3)]):
            put(top, left + 2 + k, char, over=" ─")
    return Layout(tuple("".join(line) for line in lines), drawn.nodes, drawn.order, drawn.width)


def _channel_columns(sources: list, targets: list, keys: dict, preds: dict, rows: dict) -> dict:
    """Column (0, 1, ...) of each channel in the gap between `sources` and `targets`; `keys` maps a bent
    target to its channel key.

    On one row, the line leaving a source (to its channels) and the line entering a target (from
    its channel) must not share cells, or an edge seems to join the wrong task: the source's
    channels go left of the target's, one blank column apart when they are different edges::

        ■ a ──┐ └──▸ ■ b      (a's edge goes down; b's comes from above)
    """
    order = list(dict.fromkeys(keys[t] for t in sorted(keys, key=rows.__getitem__)))
    fed: dict = {}  # source -> the channels its line on its row runs to
    for t, key in keys.items():
        for source in preds[t]:
            fed.setdefault(source, set()).add(key)
    source_at = {rows[s]: s for s in sources}
    before: dict = {key: set() for key in order}  # channel -> channels that must be left of it
    apart: dict = {key: set() for key in order}  # ... and with a blank column between
    for t in targets:
        if t not in keys or rows[t] not in source_at:
            continue
        outgoing = fed.get(source_at[rows[t]], set())
        before[keys[t]] |= outgoing - {keys[t]}
        if keys[t] not in outgoing:
            apart[keys[t]] |= outgoing
    columns: dict = {}
    while len(columns) < len(order):
        waiting = [k for k in order if k not in columns]
        # The first channel whose left neighbours are placed; in a cycle, the first one left.
        key = next((k for k in waiting if before[k] <= columns.keys()), waiting[0])
        column = max(columns.values(), default=-1) + 1
        columns[key] = max([column, *(columns[k] + 2 for k in apart[key] if k in columns)])
    return columns


def _draw(layers: list[list], preds: dict, rows: dict, margin: int = 0) -> Layout:
    def width_of(node) -> int:  # with a margin (task groups), a blank each side of a label, inside its box
        return label_width(node) + 1 + 2 * margin if isinstance(node, str) else 1

    xs: dict = {}
    channels: list[dict] = []  # per gap: target node -> channel column
    x = 0
    for i, layer in enumerate(layers):
        for node in layer:
            xs[node] = x + margin if isinstance(node, str) else x
        end = x + max(width_of(n) for n in layer)
        if i + 1 == len(layers):
            width = end
            break
        # Edges into a task with several upstreams share that task's channel; a task with one
        # upstream uses its upstream's channel (a fan-out is one line), or none if straight.
        keys: dict = {}
        for t in sorted(layers[i + 1], key=rows.__getitem__):
            if len(preds[t]) > 1:
                keys[t] = t
            elif preds[t] and rows[preds[t][0]] != rows[t]:
                keys[t] = ("from", preds[t][0])
        slots = _channel_columns(layers[i], layers[i + 1], keys, preds, rows)
        channels.append({t: end + 2 + slots[key] for t, key in keys.items()})
        x = end + 2 + (max(slots.values()) + 1 if slots else 0) + 3
    rows = {node: row + margin for node, row in rows.items()}  # room for the boxes above and below
    height = max(rows.values()) + 1 + margin
    cells = [[0] * width for _ in range(height)]
    arrows: list[tuple[int, int]] = []

    def hline(y: int, x0: int, x1: int) -> None:
        for cx in range(x0, x1 + 1):
            cells[y][cx] |= (LEFT if cx > x0 else 0) | (RIGHT if cx < x1 else 0)

    def vline(cx: int, y0: int, y1: int) -> None:
        lo, hi = min(y0, y1), max(y0, y1)
        for y in range(lo, hi + 1):
            cells[y][cx] |= (UP if y > lo else 0) | (DOWN if y < hi else 0)

    for i in range(1, len(layers)):
        for target in layers[i]:
            real = isinstance(target, str)
            end = xs[target] - 2 - margin if real else xs[target]
            if real and preds[target]:
                arrows.append((rows[target], end))
            channel = channels[i - 1].get(target)
            for source in preds[target]:
                start = xs[source] + (label_width(source) + 1 + margin if isinstance(source, str) else 0)
                if channel is None:
                    hline(rows[target], start, end)
                    continue
                hline(rows[source], start, channel)
                vline(channel, rows[source], rows[target])
                hline(rows[target], channel, end)
    lines = [[BOX.get(bits, " ") for bits in row] for row in cells]
    for y, cx in arrows:
        lines[y][cx] = ARROW
    nodes = {n: (rows[n], xs[n]) for layer in layers for n in layer if isinstance(n, str)}
    order = tuple(n for layer in layers for n in sorted(layer, key=rows.__getitem__) if isinstance(n, str))
    return Layout(tuple("".join(row) for row in lines), nodes, order, width)
