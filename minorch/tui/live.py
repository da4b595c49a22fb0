"""The base of every screen that shows the store's state: the app hands it each `Update` while it can be
seen, and the latest state when it comes back to the top after being covered."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import ModalScreen, Screen

from .feed import Update

if TYPE_CHECKING:
    from .app import MinorchApp


class LiveScreen(Screen):
    """A screen with `show_update`. Covered by another full screen, it is skipped (redrawing a screen no
    one sees cost as much as drawing the one on top); it catches up from `app.latest` when resumed."""

    behind = False  # an update arrived while this screen was covered

    @property
    def minorch(self) -> MinorchApp:
        """The app, with its feed, settings and latest state."""
        return cast("MinorchApp", self.app)

    def show_update(self, update: Update) -> None:
        raise NotImplementedError

    def on_screen_resume(self) -> None:
        if self.behind:
            self.behind = False
            self.show_update(self.minorch.latest)


def seen_screens(stack: list[Screen]) -> list[Screen]:
    """The screens one can see, top first: the top one and, under modal dialogs, the screen beneath."""
    seen = []
    for screen in reversed(stack):
        seen.append(screen)
        if not isinstance(screen, ModalScreen):
            break
    return seen
