"""The Textual app behind `minorch ui` and `minorch up` on a terminal. Build it with `make_app`.

One worker thread owns a `Feed` (its own store connection): every `TICK` seconds, or at
once when a screen asks, it looks at `PRAGMA data_version` and the watched log, and posts
`Refreshed` when something changed; the UI thread never touches SQLite. An action
(`ActionRequested` from a widget, or the command palette) goes through a confirmation
dialog and then runs in a short worker thread through `minorch.operations`.

Everything the app shows comes from the state file and the DAG files, whether a scheduler
runs in this process, in another one, or not at all. The one difference: inside `minorch up`
(`runs_scheduler`), quitting stops the scheduler too, so `q` asks first; in `minorch ui` it
only closes this window.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timezone
from functools import partial

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.worker import get_current_worker

from ..config import Settings
from ..errors import MinorchError
from ..registry import Registry
from .actions import ACTIONS, ActionKeys, ActionRequested, Target
from .dialogs import ActionDialog, HelpScreen, StopDialog
from .feed import Feed, Update
from .live import LiveScreen, seen_screens
from .perform import fields_for, perform, preview, stop_preview
from .screens import DagListScreen, DagScreen

log = logging.getLogger("minorch.tui")

TICK = 0.5  # seconds between looks at the store: a change shows within about this long


class Refreshed(Message):
    def __init__(self, update: Update) -> None:
        super().__init__()
        self.update = update


class ActionDone(Message):
    def __init__(self, text: str, ok: bool) -> None:
        super().__init__()
        self.text = text
        self.ok = ok


class MinorchApp(App):
    CSS_PATH = "minorch.tcss"
    TITLE = "minorch"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("A", "assets", "Assets", show=False),  # in the help, not the footer: it is the same on every screen
        Binding("colon", "palette", "Commands", show=False),  # as in k9s and vim; ctrl+p too
    ]

    def __init__(self, settings: Settings, registry: Registry | None = None, runs_scheduler: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.runs_scheduler = runs_scheduler
        self.feed = Feed(settings, registry)
        self.latest = Update()
        self._failure: str | None = None

    def get_default_screen(self) -> Screen:
        return DagListScreen()

    def on_mount(self) -> None:
        self._watch()

    def on_unmount(self) -> None:
        self.feed.stop()  # the worker's loop ends now, not after its current wait

    # ------------------------------------------------------------ reading

    @work(thread=True, exclusive=True, group="feed", name="feed")
    def _watch(self) -> None:
        worker = get_current_worker()
        try:
            while not (worker.is_cancelled or self.feed.stopped):
                try:
                    update = self.feed.poll(datetime.now(timezone.utc), time.monotonic())
                    self._failure = None
                except Exception as err:  # noqa: BLE001 - the UI must outlive a bad read; it says so
                    update = None
                    if str(err) != self._failure:
                        self._failure = str(err)
                        log.exception("reading the state file failed")
                        self.post_message(ActionDone(f"reading the state file failed: {err}", False))
                if update is not None:
                    self.post_message(Refreshed(update))
                self.feed.wait(TICK)
        finally:
            self.feed.close()

    def on_refreshed(self, message: Refreshed) -> None:
        new = message.update
        self.latest = replace(self.latest, **{k: v for k, v in vars(new).items() if v is not None})
        seen = seen_screens(self.screen_stack)
        for screen in self.screen_stack:
            # A screen still composing gets `latest` from its own on_mount instead.
            if not isinstance(screen, LiveScreen) or not screen.is_mounted:
                continue
            if screen not in seen:
                screen.behind = True
                continue
            with contextlib.suppress(NoMatches):  # the app is closing: the screen's widgets are already gone
                screen.show_update(new)

    # ------------------------------------------------------------ acting

    def on_action_requested(self, message: ActionRequested) -> None:
        self.request(message.action, message.target)

    def request(self, name: str, target: Target | None) -> None:
        """Ask for `name` on `target` (a dialog where it changes runs), then do it in a worker."""
        action = ACTIONS[name]
        if target is None:
            self.notify(f"{action.title.lower()}: nothing selected", severity="warning")
            return
        missing = target.missing(action)
        if missing:
            self.notify(missing, severity="warning")
            return
        if name == "pause":  # undone by the same key: no dialog
            self._perform(name, target, {})
            return
        item = self.latest.dags.get(target.dag_id) if self.latest.dags else None
        tz = item.timezone if item else self.settings.timezone
        now = time.time()
        dag = self.feed.registry.dags.get(target.dag_id) if self.feed.registry else None
        dialog = ActionDialog(
            f"{action.title}: {action.help}",
            target.describe(),
            fields_for(name, target, tz, now, dag),
            partial(self._preview, name, target),
        )
        self.push_screen(dialog, callback=partial(self._confirmed, name, target))

    def _confirmed(self, name: str, target: Target, answer: dict | None) -> None:
        if answer is not None:
            self._perform(name, target, answer)

    def _preview(self, name: str, target: Target, answer: dict) -> str:
        return preview(self.settings, self.feed.registry, name, target, answer, time.time())

    @work(thread=True, group="actions")
    def _perform(self, name: str, target: Target, answer: dict) -> None:
        try:
            text = perform(self.settings, self.feed.registry, name, target, answer, time.time())
        except MinorchError as err:
            self.post_message(ActionDone(str(err), False))
        except Exception as err:  # noqa: BLE001 - shown, logged, and the UI goes on
            log.exception("%s of %s failed", name, target.describe())
            self.post_message(ActionDone(f"{name} failed: {err}", False))
        else:
            self.post_message(ActionDone(text, True))

    def on_action_done(self, message: ActionDone) -> None:
        text = message.text
        if message.ok and not self.feed.scheduler:
            text += "; no scheduler is running: the next `minorch up` carries it out"
        self.notify(text, severity="information" if message.ok else "error", timeout=4 if message.ok else 8)
        self.feed.wake()

    # ------------------------------------------------------------ quitting

    async def action_quit(self) -> None:
        """q (and ctrl+q, and the palette's Quit): leave at once in `minorch ui`; inside `minorch up`,
        ask before stopping the scheduler. ctrl+q while the question shows quits."""
        if not self.runs_scheduler or isinstance(self.screen, StopDialog):
            self.exit()
            return
        grace = f"{self.settings.grace:g}s"
        dialog = StopDialog(
            "Stop the scheduler and quit?",
            f"No new runs or tries start; running tries get {grace} to finish, then they are "
            "stopped and count as failed tries.",
            [],
            lambda _answer: stop_preview(self.settings),
        )
        self.push_screen(dialog, callback=self._stop_confirmed)

    def _stop_confirmed(self, answer: dict | None) -> None:
        if answer is not None:
            self.exit()

    # ------------------------------------------------------------ navigation and the command palette

    def open_dag(self, dag_id: str) -> None:
        while len(self.screen_stack) > 1 and not isinstance(self.screen, DagListScreen):
            self.pop_screen()
        self.push_screen(DagScreen(dag_id))

    def action_palette(self) -> None:
        """`:` opens the command palette (its own action name, so the footer keeps showing ^p for it)."""
        self.action_command_palette()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_assets(self) -> None:
        from .asset_screen import AssetsScreen

        if not isinstance(self.screen, AssetsScreen):
            self.push_screen(AssetsScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        focused = screen.focused
        offers = focused.OFFERS if isinstance(focused, ActionKeys) else ()
        target = focused.target() if isinstance(focused, ActionKeys) else None
        if target is not None:
            for name in offers:
                action = ACTIONS[name]
                yield SystemCommand(
                    f"{action.title}: {target.describe()}", action.help, partial(self.request, name, target)
                )
        yield SystemCommand("Help", "Keys and the colours of states", self.action_help)
        if isinstance(screen, DagListScreen):
            yield SystemCommand(
                "Filter DAGs", "Show only DAGs whose id, schedule or description match", screen.action_filter
            )
        if len(self.screen_stack) > 1:
            yield SystemCommand("Back", "Close this screen", self.pop_screen)
        for item in self.latest.dags.dags if self.latest.dags else ():
            yield SystemCommand(
                f"Open DAG {item.dag_id}",
                item.description or "its grid and graph",
                partial(self.open_dag, item.dag_id),
                discover=False,
            )


def make_app(settings: Settings, *, registry: Registry | None = None, runs_scheduler: bool = False) -> MinorchApp:
    """The UI for the state file and DAG files of `settings`. `registry`: DAG files already loaded (else it
    loads them itself, in its worker thread). `runs_scheduler`: the app runs inside `minorch up`, whose
    scheduler stops when it quits (so `q` asks first)."""
    return MinorchApp(settings, registry, runs_scheduler)
