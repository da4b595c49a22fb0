"""The operator's actions as the UI names them: keys, titles, targets, and the request message.

A widget that shows DAGs, runs or tasks mixes in `ActionKeys`, lists the actions it
offers with `action_bindings(...)`, and implements `target()`. A key press posts
`ActionRequested(action, target)`; it bubbles to the app, which asks for confirmation
(`dialogs.py`) and carries it out through `minorch.operations` (`perform.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.message import Message

if TYPE_CHECKING:
    from textual.widget import Widget as _Widget
else:
    _Widget = object  # ActionKeys is mixed into widgets; its own class stays out of Textual's widget tree


@dataclass(frozen=True)
class Action:
    name: str
    key: str
    title: str
    help: str
    needs: str  # what the target must name: "dag", "run"


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("trigger", "t", "Trigger", "queue a manual run of the DAG", "dag"),
        Action("pause", "p", "Pause", "stop or resume new runs and tries of the DAG", "dag"),
        Action("backfill", "b", "Backfill", "create runs for a range of logical dates", "dag"),
        Action("clear", "c", "Clear", "run a task (with its downstream) or a whole run again", "run"),
        Action("retry", "r", "Retry", "run the failed tasks of a run again", "run"),
        Action("mark", "m", "Mark", "set a task or a run to success, failed or skipped", "run"),
    )
}


@dataclass(frozen=True)
class Target:
    """What an action acts on: a DAG, one of its runs, or one task of a run."""

    dag_id: str
    run_pk: int | None = None
    run_id: str | None = None
    task_id: str | None = None

    def describe(self) -> str:
        text = self.dag_id
        if self.run_id:
            text += f" run {self.run_id}"
        if self.task_id:
            text += f" task {self.task_id}"
        return text

    def missing(self, action: Action) -> str | None:
        """Why this target cannot take the action (a sentence), or None."""
        if action.needs == "run" and self.run_pk is None:
            return f"{action.title.lower()}: select a run first (open the DAG with enter)"
        return None


@dataclass(frozen=True)
class Field:
    """One input of an action's dialog: a checkbox ("check"), a line of text ("text") or one of `choices`."""

    name: str
    kind: str
    label: str
    default: object = None
    choices: tuple[str, ...] = ()
    placeholder: str = ""  # shown in an empty text field


class ActionRequested(Message):
    """A widget asks for `action` on `target` (None: nothing selected)."""

    def __init__(self, action: str, target: Target | None) -> None:
        super().__init__()
        self.action = action
        self.target = target


def action_bindings(*names: str, show: bool = True) -> list[Binding]:
    return [Binding(ACTIONS[n].key, f"request('{n}')", ACTIONS[n].title, show=show) for n in names]


class ActionKeys(_Widget):
    """Mixin for widgets with action keys: `target()` says what is selected."""

    OFFERS: tuple[str, ...] = ()  # the actions the widget's keys ask for

    def target(self) -> Target | None:
        raise NotImplementedError

    def action_request(self, name: str) -> None:
        self.post_message(ActionRequested(name, self.target()))
