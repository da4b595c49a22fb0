"""The log of one try, following the end of the file while the reader is at the bottom."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Log

from ..actions import ActionKeys, Target, action_bindings
from ..feed import LogChunk

MAX_LINES = 20_000


class LogView(ActionKeys, Log):
    """Shows `LogChunk`s from the feed. Scrolled up, new lines do not pull the view down; G goes back to the end."""

    OFFERS = ("clear", "mark", "retry")
    BINDINGS = [
        *action_bindings(*OFFERS),
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("G", "scroll_end", "End", show=False),
        Binding("g", "scroll_home", "Top", show=False),
    ]

    def __init__(self, subject: Target, **kwargs) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=False, **kwargs)
        self.subject = subject
        self.path: str | None = None
        self.placeholder: str | None = None  # the "(no output yet)" line shown instead of a log, if any

    def show(self, chunk: LogChunk, *, empty: str) -> None:
        """Append `chunk` (or replace the text, for a reset chunk); `empty` is shown while there is no output."""
        follow = self.is_vertical_scroll_end or chunk.reset
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
