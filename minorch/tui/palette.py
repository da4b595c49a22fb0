"""How a state looks on screen: one glyph and one colour per run or task state.

Glyphs differ per state as well as colours, so the screens read on a monochrome
terminal and in `tmux capture-pane` text. Colours follow Airflow's, which users know.

One state has two looks: a task skipped because a branch or short-circuit task chose
another path (its note says "not chosen by ...") is an expected outcome, drawn apart from
a task skipped for other reasons (marked, a soft-failed sensor, skipped upstream).
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

NOT_CHOSEN = "not_chosen"  # a look, not a state: skipped, "not chosen by branch 'check_day'"

# look (a state value, or NOT_CHOSEN) -> (glyph, Rich colour). Run states share the task states' names.
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
    NOT_CHOSEN: ("⊘", "medium_purple1"),
}
NAMES = {NOT_CHOSEN: "not chosen"}  # legend names of looks that are not state names
UNKNOWN = ("?", "magenta")
BLANK = (" ", "")
EMPTY = Text(" ")


def look_of(state: str | None, note: str | None = None) -> str | None:
    """The key into `STATE_LOOK` for a state and its note; None for no state."""
    if state is None:
        return None
    if str(state) == "skipped" and note and note.startswith("not chosen by"):
        return NOT_CHOSEN
    return str(state)


def look(state: str | None, note: str | None = None) -> tuple[str, str]:
    """(glyph, colour) of a state; a blank cell for no state (a task the run does not have)."""
    key = look_of(state, note)
    return BLANK if key is None else STATE_LOOK.get(key, UNKNOWN)


def glyph(state: str | None, note: str | None = None) -> Text:
    """The one-cell picture of a state."""
    if state is None:
        return EMPTY
    char, colour = look(state, note)
    return Text(char, style=colour)


def state_text(state: str | None, note: str | None = None) -> Text:
    """Glyph and name: "✗ failed" in red; "⊘ skipped" in the not-chosen colour for a branch's skip."""
    if state is None:
        return Text("-", style="grey50")
    char, colour = look(state, note)
    return Text(f"{char} {state}", style=colour)


def legend(keys: Iterable[str] | None = None, *, per_line: int = 0, width: int = 0, start: int = 0) -> Text:
    """Glyphs with their names: of `keys` (looks, in `STATE_LOOK` order) or of every look.

    With `per_line`, that many to a line in aligned columns. Else on one line, or, with `width`,
    on as many lines of at most `width` cells as it takes, broken between entries only (the
    first line already holds `start` cells)."""
    wanted = set(STATE_LOOK) if keys is None else set(keys)
    entries = [(f"{char} {NAMES.get(key, key)}", colour) for key, (char, colour) in STATE_LOOK.items() if key in wanted]
    column = max((len(entry) for entry, _colour in entries), default=0) + 3
    text, used = Text(), start
    for number, (entry, colour) in enumerate(entries, 1):
        if number == 1 and width and start and used + len(entry) > width:
            text.append("\n")
            used = 0
        elif number > 1:
            if (per_line and (number - 1) % per_line == 0) or (width and used + 3 + len(entry) > width):
                text.append("\n")
                used = 0
            else:
                gap = column - len(entries[number - 2][0]) if per_line else 3
                text.append(" " * gap)
                used += gap
        text.append(entry, style=colour)
        used += len(entry)
    return text
