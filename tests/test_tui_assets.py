"""The Assets screen, driven with Textual's Pilot against a real state file: the list with last
events and freshness, an asset's history on enter, and `e` emitting an event after a confirmation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from minorch.config import load_settings
from minorch.registry import load
from minorch.store import Store
from minorch.tui.app import make_app
from minorch.tui.asset_screen import AssetsScreen

DAGS = """\
[assets.raw]
fresh_within = "1h"

[dags.bronze]
schedule = { assets = "raw" }
[dags.bronze.tasks.land]
command = "true"
outlets = ["orders_bronze"]

[dags.silver]
schedule = { assets = "orders_bronze & raw" }
[dags.silver.tasks.clean]
command = "true"
outlets = ["orders_silver"]
"""


def screen_text(app) -> str:
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())


async def until(pilot, check, timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s; screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.02)


def test_the_assets_screen_lists_shows_history_and_emits_after_a_confirmation(tmp_path: Path):
    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\nstate_dir = "state"\ndag_folders = ["dags"]\n')
    (tmp_path / "dags" / "assets.toml").write_text(DAGS)
    settings = load_settings(tmp_path / "minorch.toml")
    registry = load(settings)
    assert not registry.errors
    store = Store(settings.db_path)
    store.set_asset_watches({"silver": ["orders_bronze", "raw"]})
    store.add_asset_event("orders_bronze", ds="2024-05-01", extra_json='{"rows": 7}', now=time.time(),
                          dag_id="bronze", run_id="manual__2024-05-01", task_id="land")  # fmt: skip

    async def main() -> None:
        app = make_app(settings, registry=registry)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "bronze" in screen_text(app), what="DAG list shown")
            await pilot.press("A")
            await until(pilot, lambda: isinstance(app.screen, AssetsScreen) and "orders_bronze" in screen_text(app))
            text = screen_text(app)
            assert "STALE" in text  # raw has fresh_within and no event
            assert "silver: has orders_bronze, waits for raw" in text
            assert "■ bronze ───▸ ◆ [orders_bronze]" in text  # the lineage, drawn
            assert "▸ ■ silver ───▸ ◆ [orders_silver]" in text
            await pilot.press("down")  # orders_bronze (rows sort by name: orders_bronze, orders_silver, raw)
            await pilot.press("up")
            await pilot.press("enter")
            await until(pilot, lambda: "history of orders_bronze" in screen_text(app))
            assert 'ds 2024-05-01  bronze.land manual__2024-05-01  {"rows": 7}' in screen_text(app)
            await pilot.press("down", "down", "e")  # raw
            await until(pilot, lambda: app.screen.__class__.__name__ == "ActionDialog", what="dialog open")
            await pilot.press("enter")
            await until(pilot, lambda: "history of raw" in screen_text(app) and "emitted" in screen_text(app))
            assert "silver: has orders_bronze, raw, about to run" in screen_text(app)

    asyncio.run(main())
    assert [e.asset for e in store.asset_events("raw")] == ["raw"]
    assert [q.asset for q in store.asset_queue()["silver"]] == ["orders_bronze", "raw"]
    store.close()


def test_an_asset_triggered_run_says_which_assets_started_it(tmp_path: Path):
    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\nstate_dir = "state"\ndag_folders = ["dags"]\n')
    (tmp_path / "dags" / "assets.toml").write_text(DAGS)
    settings = load_settings(tmp_path / "minorch.toml")
    registry = load(settings)
    store = Store(settings.db_path)
    store.set_asset_watches({"silver": ["orders_bronze", "raw"]})
    events = [
        store.add_asset_event(a, ds="2024-05-01", extra_json="null", now=time.time()) for a in ("orders_bronze", "raw")
    ]
    pk = store.create_run("silver", "asset_triggered__2024-05-01T00:00:00+00:00", "asset_triggered",
                          "2024-05-01T00:00:00+00:00", None, None, ["clean"], now=time.time())  # fmt: skip
    assert store.consume_asset_events("silver", pk, events) == 2
    store.close()

    async def main() -> None:
        app = make_app(settings, registry=registry)
        async with app.run_test(size=(120, 30)) as pilot:
            await until(pilot, lambda: "silver" in screen_text(app), what="DAG list shown")
            app.open_dag("silver")
            await until(
                pilot,
                lambda: "asset_triggered" in screen_text(app) and "(by orders_bronze, raw)" in screen_text(app),
                what="the run's status line, with the assets that started it",
            )

    asyncio.run(main())
