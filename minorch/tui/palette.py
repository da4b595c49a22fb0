"""How a state looks on screen: one glyph and one colour per run or task state.

Glyphs differ per state as well as colours, so the screens read on a monochrome
terminal and in `tmux capture-pane` text. Colours follow Airflow's, which users know.
"""

from __future__ import annotations

from rich.text import Text

# state value -> (glyph, Rich colour). Run states share the task states' names.
STATE_LOOK: dict[str, tuple[str, str]] = {
    "none": ("·", "grey50"),
    "scheduled": ("○", "tan"),
    "queued": ("◌", "grey62"),
    "running": ("▶", "bright_green"),
    "success": ("■", "green"),
    "failed": ("✗", "red"),
    "up_for_retry": ("↻", "gold1"),
    "up_for_reschedule": ("◷", "turquoise2"),
    "upstream_failed": ("▲", "dark_orange"),
    "skipped": ("»", "hot_pink"),
}
UNKNOWN = ("?", "magenta")
EMPTY = Text(" ")


def glyph(state: str | None) -> Text:
    """The one-cell picture of a state; a blank cell for no state (a task the run does not have)."""
    if state is None:
        return EMPTY
    char, colour = STATE_LOOK.get(str(state), UNKNOWN)
    return Text(char, style=colour)


def state_text(state: str | None) -> Text:
    """Glyph and name: "✗ failed" in red."""
    if state is None:
        return Text("-", style="grey50")
    char, colour = STATE_LOOK.get(str(state), UNKNOWN)
    return Text(f"{char} {state}", style=colour)


def legend(per_line: int = 4) -> Text:
    """Every glyph with its state name, `per_line` to a line, for the help screen."""
    text = Text()
    for number, (state, (char, colour)) in enumerate(STATE_LOOK.items(), 1):
        text.append(f"{char} {state}", style=colour)
        text.append("\n" if number % per_line == 0 else "   ")
    return text
