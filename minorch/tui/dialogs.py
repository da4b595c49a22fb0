"""Modal screens: the confirmation dialog every action goes through, and the help screen.

`ActionDialog` draws the `Field`s of an action, shows live what the answer would do
(its `preview` runs in a worker thread: it reads the store), and dismisses with the
answer (a dict by field name) on enter, or None on escape.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, RadioButton, RadioSet, Static
from textual.worker import get_current_worker

from ..errors import MinorchError
from .actions import Field
from .palette import legend
from .widgets.text_input import TextInput


class Tick(Checkbox):
    """A checkbox whose mark shows its value without colour (✓ or blank), for monochrome terminals."""

    def _show_value(self) -> None:
        self.BUTTON_INNER = "✓" if self.value else " "

    def on_mount(self) -> None:
        self._show_value()

    def watch_value(self) -> None:
        self._show_value()
        super().watch_value()


class Choice(RadioButton):
    """A radio button whose mark shows its value without colour (● or blank)."""

    def _show_value(self) -> None:
        self.BUTTON_INNER = "●" if self.value else " "

    def on_mount(self) -> None:
        self._show_value()

    def watch_value(self) -> None:
        self._show_value()
        super().watch_value()


class ActionDialog(ModalScreen[dict | None]):
    HINT = "enter: OK · esc: cancel"
    FIELDS_HINT = " · tab: next field · space: toggle"
    BINDINGS = [
        Binding("escape,q", "dismiss(None)", "Cancel"),  # q closes the dialog rather than quitting the app
        Binding("enter", "confirm", "OK", priority=True),
    ]

    class Previewed(Message):
        def __init__(self, text: str, ok: bool) -> None:
            super().__init__()
            self.text = text
            self.ok = ok

    def __init__(
        self, title: str, subject: str, fields: list[Field], preview: Callable[[dict], str] | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.subject = subject
        self.fields = fields
        self.preview = preview

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.title_text, classes="title")
            yield Static(self.subject, classes="subject")
            for field in self.fields:
                if field.kind == "check":
                    yield Tick(field.label, bool(field.default), id=f"field-{field.name}", compact=True)
                elif field.kind == "text":
                    yield Label(field.label)
                    yield TextInput(
                        str(field.default or ""), placeholder=field.placeholder, id=f"field-{field.name}", compact=True
                    )
                else:
                    yield Label(field.label)
                    with RadioSet(id=f"field-{field.name}", compact=True):
                        for choice in field.choices:
                            yield Choice(choice, value=choice == field.default, name=choice, compact=True)
            yield Static("", id="preview")
            yield Static(self.HINT + (self.FIELDS_HINT if self.fields else ""), classes="hint")

    def on_mount(self) -> None:
        self._changed()

    def answer(self) -> dict:
        result: dict = {}
        for field in self.fields:
            where = f"#field-{field.name}"
            if field.kind == "check":
                result[field.name] = self.query_one(where, Tick).value
            elif field.kind == "text":
                result[field.name] = self.query_one(where, TextInput).value
            else:
                pressed = self.query_one(where, RadioSet).pressed_button
                result[field.name] = pressed.name if pressed is not None else field.default
        return result

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    def _changed(self) -> None:
        if self.preview is not None:
            self._run_preview(self.preview, self.answer())

    @work(thread=True, exclusive=True, group="preview")
    def _run_preview(self, preview: Callable[[dict], str], answer: dict) -> None:
        try:
            text, ok = preview(answer), True
        except MinorchError as err:
            text, ok = str(err), False
        # A thread cannot be stopped: a preview outrun by a newer answer just keeps quiet.
        if not get_current_worker().is_cancelled:
            self.post_message(self.Previewed(text, ok))

    def on_action_dialog_previewed(self, message: Previewed) -> None:
        self.query_one("#preview", Static).update(Text(message.text, style="" if message.ok else "bold red"))

    def action_confirm(self) -> None:
        self.dismiss(self.answer())


class StopDialog(ActionDialog):
    """The question `q` asks inside `minorch up`: its preview says which tries are running.
    Enter or y stops the scheduler; escape, n or q keep it running."""

    HINT = "enter or y: stop and quit · esc or n: keep running"

    BINDINGS = [
        Binding("escape,q,n", "dismiss(None)", "Keep running"),
        Binding("enter,y", "confirm", "Stop", priority=True),
    ]


HELP_KEYS = [
    ("DAG list", ["enter open · / filter · t trigger · p pause/unpause · b backfill"]),
    (
        "DAG",
        [
            "g grid/graph · arrows, h j k l move · enter a task's tries",
            "[ ] older/newer runs (or arrow past the edge) · / filter tasks",
            "c clear task (run row: the whole run) · r retry failed tasks",
            "m mark task (run row: the run) · t p b as above · esc back",
            "w the run's Gantt · d run durations",
        ],
    ),
    (
        "Task",
        [
            "up/down pick a try · tab to its log · G log end",
            "c clear · m mark · r retry · esc back · w Gantt · d durations",
        ],
    ),
    ("Gantt", ["up/down move · space unfold/fold copies · enter the task's tries · esc back"]),
    (
        "Anywhere",
        [
            "ctrl+p every action by name · ? this help · A assets",
            "q quit (in `minorch up`: asks, then stops the scheduler)",
        ],
    ),
]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss(None)", "Close")]

    def compose(self) -> ComposeResult:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column()
        for title, lines in HELP_KEYS:
            grid.add_row(title, "\n".join(lines))
        grid.add_row("", "")
        grid.add_row("States", legend(per_line=3))
        with VerticalScroll(id="help"):
            yield Label("minorch keys", classes="title")
            yield Static(grid)
            yield Static("Every action that changes runs asks first; enter confirms, escape cancels.", classes="hint")
