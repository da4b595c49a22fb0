"""An Input whose cursor does not blink: a blink is a redraw twice a second, and the UI should idle at ~0 % CPU."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widgets import Input


class TextInput(Input):
    cursor_blink = reactive(False, init=False)
