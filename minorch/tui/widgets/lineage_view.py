"""The lineage drawn as a graph: DAGs (■) and assets (◆, in brackets) left to right, DAG -> the
assets its tasks update -> the DAGs that wait for them, laid out like a DAG's tasks (`layout.py`).
Stale assets are red. Scrolls when wider or taller than its room."""

from __future__ import annotations

from rich.text import Text
from textual.containers import ScrollableContainer
from textual.widgets import Static

from ...lineage import Lineage
from ..layout import label_width, layout


def nodes_and_edges(lineage: Lineage) -> tuple[list[str], dict[str, list[str]]]:
    """Node ids (upstream first) and their upstream ids: a DAG is its id, an asset `[name]`."""
    upstream: dict[str, list[str]] = {}
    for name in lineage.names():
        node = f"[{name}]"
        upstream[node] = sorted({d for d, _ in lineage.producers.get(name, [])})
        for dag_id in upstream[node]:
            upstream.setdefault(dag_id, [])
        for dag_id in lineage.consumers.get(name, []):
            upstream.setdefault(dag_id, []).append(node)
    order: list[str] = []
    placed: set[str] = set()
    for start in sorted(upstream):  # depth-first along upstream links: upstream before downstream
        stack = [(start, iter(upstream[start]))]
        if start in placed:
            continue
        placed.add(start)
        while stack:
            node, ups = stack[-1]
            up = next(ups, None)
            if up is None:
                order.append(node)
                stack.pop()
            elif up not in placed:
                placed.add(up)
                stack.append((up, iter(upstream[up])))
    return order, upstream


def draw(lineage: Lineage, stale: set[str]) -> Text:
    order, upstream = nodes_and_edges(lineage)
    drawn = layout(order, upstream)
    by_row: dict[int, list[tuple[int, str]]] = {}
    for node, (row, x) in drawn.nodes.items():
        by_row.setdefault(row, []).append((x, node))
    text = Text(no_wrap=True)
    for row, line in enumerate(drawn.lines):
        at = 0
        for x, node in sorted(by_row.get(row, [])):
            text.append(line[at:x], "grey50")
            is_asset = node.startswith("[")
            style = "bold red" if is_asset and node[1:-1] in stale else ("cyan" if is_asset else "bold")
            text.append("◆ " if is_asset else "■ ", style)
            text.append(node, style)
            at = x + label_width(node)
        text.append(line[at:] + "\n", "grey50")
    return text


class LineageView(ScrollableContainer, can_focus=False):
    DEFAULT_CSS = """
    LineageView { height: auto; max-height: 16; }
    LineageView > Static { width: auto; }
    """

    def compose(self):
        yield Static("", id="lineage-drawing")

    def show(self, lineage: Lineage, stale: set[str]) -> None:
        self.query_one("#lineage-drawing", Static).update(draw(lineage, stale) if lineage.names() else "no assets")
