"""The graph: a DAG's tasks drawn left to right (`layout.py`), coloured by one run's task states;
task groups are boxes.

Up/down (j/k) walk the tasks in reading order, enter opens the selected task; the run
shown is the one the grid has selected (the newest by default). Drawn with the line
API, so a graph wider or taller than the screen scrolls. `set_filter` dims the tasks
whose id lacks a word of the filter (the drawing stays whole) and j/k skip them.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..actions import ActionKeys, Target, action_bindings
from ..layout import Layout, label_width, layout
from ..model import DagDetail
from ..palette import look

EDGE = Style(color="grey50")


class TaskGraph(ActionKeys, ScrollView, can_focus=True):
    OFFERS = ("clear", "retry", "mark", "trigger", "backfill", "pause")
    BINDINGS = [
        Binding("enter", "choose", "Open"),
        *action_bindings("clear", "retry", "mark"),
        *action_bindings("trigger", "backfill", "pause", show=False),  # the footer is full; ? and ctrl+p list them
        Binding("down,j", "move(1)", "Next", show=False),
        Binding("up,k", "move(-1)", "Previous", show=False),
    ]

    class Highlighted(Message):
        def __init__(self, task_id: str | None) -> None:
            super().__init__()
            self.task_id = task_id

    class Chosen(Message):
        def __init__(self, run_pk: int, task_id: str) -> None:
            super().__init__()
            self.run_pk = run_pk
            self.task_id = task_id

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.detail: DagDetail | None = None
        self.run_pk: int | None = None
        self.selected: str | None = None
        self.words: list[str] = []
        self._shape: tuple | None = None
        self._layout = Layout((), {}, (), 0)
        self._strips: list[Strip] = []

    def show(self, detail: DagDetail, run_pk: int | None = None) -> None:
        """Draw `detail`, coloured by run `run_pk` (None: the newest run)."""
        self.detail = detail
        self.run_pk = run_pk if detail.run(run_pk) else (detail.latest.pk if detail.latest else None)
        drawn = tuple(t for t in detail.task_ids if t in detail.upstream)
        shape = (drawn, tuple(detail.upstream.get(t) for t in drawn), tuple(detail.groups.get(t) for t in drawn))
        if shape != self._shape:
            self._shape = shape
            self._layout = layout(drawn, detail.upstream, detail.groups)
            self.virtual_size = Size(self._layout.width + 1, len(self._layout.lines))
        if self.selected not in self._layout.nodes:
            self.selected = self._layout.order[0] if self._layout.order else None
        self._paint()

    def set_filter(self, text: str) -> None:
        """Dim the tasks whose id lacks a word of `text`; select the first match if the selection is dimmed."""
        self.words = text.lower().split()
        if self.selected is not None and not self._matches(self.selected):
            self.selected = next((t for t in self._layout.order if self._matches(t)), self.selected)
        if self.detail is not None:
            self._paint()
            self._reveal()

    def _matches(self, task_id: str) -> bool:
        return all(word in task_id.lower() for word in self.words)

    def select(self, task_id: str | None) -> None:
        if task_id in self._layout.nodes and task_id != self.selected:
            self.selected = task_id
            self._paint()
            self._reveal()

    def _paint(self) -> None:
        detail, nodes = self.detail, self._layout.nodes
        by_row: dict[int, list[tuple[int, str]]] = {}
        for tid, (row, x) in nodes.items():
            by_row.setdefault(row, []).append((x, tid))
        console = self.app.console
        self._strips = []
        for row, line in enumerate(self._layout.lines):
            text, at = Text(), 0
            for x, tid in sorted(by_row.get(row, [])):
                text.append(line[at:x], EDGE)
                ti = detail.tis.get((self.run_pk, tid)) if detail is not None and self.run_pk is not None else None
                char, colour = look(str(ti.state), ti.note) if ti is not None else look(None)
                mark = "reverse" if tid == self.selected else ("" if self._matches(tid) else "dim")
                text.append(char, f"{colour} {mark}".strip())
                text.append(" " + tid, f"{'bold ' if mark != 'dim' else ''}{mark}".strip())
                at = x + label_width(tid)
            text.append(line[at:], EDGE)
            segments = list(text.render(console))
            self._strips.append(Strip(segments, text.cell_len))
        self.refresh()

    def _reveal(self) -> None:
        selected = self.selected
        if selected is not None and selected in self._layout.nodes:
            row, x = self._layout.nodes[selected]
            self.scroll_to_region(Region(x, row, label_width(selected), 1), animate=False, force=True)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = y + scroll_y
        width = self.scrollable_content_region.width
        if row >= len(self._strips):
            return Strip.blank(width, self.rich_style)
        return self._strips[row].crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def action_move(self, step: int) -> None:
        order = [t for t in self._layout.order if self._matches(t) or t == self.selected]
        if not order:
            return
        index = order.index(self.selected) if self.selected in order else 0
        self.select(order[max(0, min(len(order) - 1, index + step))])
        self.post_message(self.Highlighted(self.selected))

    def action_choose(self) -> None:
        if self.run_pk is not None and self.selected is not None:
            self.post_message(self.Chosen(self.run_pk, self.selected))

    def target(self) -> Target | None:
        if self.detail is None:
            return None
        run = self.detail.run(self.run_pk)
        return Target(self.detail.item.dag_id, self.run_pk, run.run_id if run else None, self.selected)
