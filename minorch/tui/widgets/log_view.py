"""The log of one try, following the end of the file until the reader scrolls up (or presses f)."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Log

from ..actions import ActionKeys, Target, action_bindings
from ..feed import LogChunk

MAX_LINES = 20_000


class LogView(ActionKeys, Log):
    """Shows `LogChunk`s from the feed. It follows the end from the start: new lines pull the view
    down until the reader scrolls up (k, g, page up, the mouse wheel); G goes back to the end and
    follows again; f turns following on or off. Following is a flag, not "is the view at the
    end": a log that already fills the pane when it opens, before the pane has its size, follows."""

    OFFERS = ("clear", "mark", "retry")
    BINDINGS = [
        *action_bindings(*OFFERS),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("G", "follow_end", "End", show=False),
        Binding("g", "top", "Top", show=False),
        Binding("f", "toggle_follow", "Follow", show=False),
    ]

    def __init__(self, subject: Target, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=False, **kwargs)
        self.subject = subject
        self.path: str | None = None
        self.placeholder: str | None = None  # the "(no output yet)" line shown instead of a log, if any
        self.following = True

    def show(self, chunk: LogChunk, *, empty: str) -> None:
        """Append `chunk` (or replace the text, for a reset chunk); `empty` is shown while there is no output."""
        if chunk.reset and chunk.path != self.path:  # another try: start at its end, following
            self.following = True
        follow = self.following
        if chunk.reset or (chunk.text and self.placeholder is not None):
            self.clear()
            self.placeholder = None
            self.path = chunk.path
        if not chunk.text and not self.line_count:
            self.placeholder = empty
            self.write(empty)
        self.write(chunk.text, scroll_end=follow)

    def set_placeholder(self, empty: str) -> None:
        """Replace the placeholder line, if one shows ("(no output yet)" becomes "(no output)")."""
        if self.placeholder is not None and self.placeholder != empty:
            self.clear()
            self.placeholder = empty
            self.write(empty)

    def target(self) -> Target | None:
        return self.subject

    def on_resize(self) -> None:  # the pane got its size (or a new one): the end is elsewhere now
        if self.following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_follow_end(self) -> None:
        self.following = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_top(self) -> None:
        self.following = False
        self.scroll_home(animate=False)

    def action_toggle_follow(self) -> None:
        if self.following:
            self.following = False
        else:
            self.action_follow_end()
        self.notify("following the log" if self.following else "not following: f or G follows again", timeout=2)

    def action_scroll_up(self) -> None:
        self.following = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.following = False
        super().action_page_up()

    def _on_mouse_scroll_up(self, event) -> None:
        self.following = False
        super()._on_mouse_scroll_up(event)
