"""Orders, bronze -> silver -> mart, as software-defined assets.

    orders_bronze --> orders_silver --> orders_mart --+
                                                      +--> sales_report (customers.toml)
    customers_raw --> customers_bronze --> customers_silver

Each function is a one-task DAG that updates the asset of its name. A parameter named after
another asset makes the DAG wait for that asset and hands it the newest event's metadata (the
upstream function's return value). `match="ds"` pairs events by day, so backfilling
orders_bronze for 14 days makes silver and the mart again for exactly those 14 days.
Try it: `minorch trigger orders_bronze --date 2024-01-15`, then `minorch assets`.
"""

import json
from pathlib import Path

from minorch import asset

DATA = Path(".minorch/data/assets")


def _write(name: str, ds: str, rows) -> dict:
    path = DATA / name / f"{ds}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1, sort_keys=True))
    tmp.replace(path)  # atomic: a half-written partition is never seen
    return {"path": str(path), "rows": len(rows)}


@asset(schedule="0 1 * * *", retries=2, retry_delay="5s")
def orders_bronze(ds):
    """Land the day's raw orders (here: made up)."""
    day = int(ds[-2:])
    orders = [{"id": i, "customer": i % 3 + 1, "amount": (i * day) % 17 - 2} for i in range(1, 11)]
    return _write("orders_bronze", ds, orders)


@asset(match="ds")
def orders_silver(orders_bronze, ds):
    """Clean the day's orders: drop refunds and zero amounts."""
    raw = json.loads(Path(orders_bronze["path"]).read_text())
    return _write("orders_silver", ds, [o for o in raw if o["amount"] > 0])


@asset(match="ds")
def orders_mart(orders_silver, ds):
    """Revenue per customer for the day."""
    totals: dict[str, int] = {}
    for order in json.loads(Path(orders_silver["path"]).read_text()):
        totals[str(order["customer"])] = totals.get(str(order["customer"]), 0) + order["amount"]
    return _write("orders_mart", ds, totals)
