"""`minorch up` on a terminal: the scheduler (`daemon.Daemon`) in a background thread, the UI in the
main thread; quitting the UI stops both. The scheduler logs to `<state_dir>/scheduler.log`."""

from __future__ import annotations

import signal
import sys
import threading

from ..config import Settings
from ..daemon import Daemon, setup_logging
from ..registry import Registry
from .app import make_app


def serve(settings: Settings, registry: Registry) -> int:
    """The scheduler in a background thread, the TUI in the main thread; quitting the TUI stops both."""
    log_file = settings.state_dir / "scheduler.log"
    settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(log_file, "a") as stream:
        setup_logging("text", stream)
        daemon = Daemon(settings, registry)
        daemon.start_metrics()
        daemon.start()
        thread = threading.Thread(target=daemon.run, name="scheduler", daemon=True)
        thread.start()
        app = make_app(settings, registry=registry, runs_scheduler=True)

        def on_sigterm(signum, frame) -> None:
            daemon.request_stop()
            app.exit()

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            app.run()
        finally:
            running = len(daemon.scheduler.inflight)
            if running:
                sys.stderr.write(
                    f"minorch: stopping: {running} running tries get {settings.grace:g}s to finish (log: {log_file})\n"
                )
            daemon.request_stop()
            thread.join()
    return 0
