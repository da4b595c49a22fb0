"""`minorch ui`: the terminal UI on a project's state file, beside a `minorch up` running elsewhere."""

from __future__ import annotations

import sys

from ..errors import MinorchError
from . import Context, main, pass_ctx


@main.command()
@pass_ctx
def ui(app: Context) -> None:
    """Open the terminal UI: DAGs, runs, graphs, logs; trigger, clear, retry, mark, backfill, pause.

    It reads and writes the same state file as `minorch up`, which may run in another terminal
    (or under systemd); without one, actions wait for the next `minorch up`.
    """
    from ..tui.app import make_app

    if not sys.stdout.isatty():
        raise MinorchError("minorch ui needs a terminal", hint="run it in a terminal; `minorch dags` prints a list")
    make_app(app.settings).run()
