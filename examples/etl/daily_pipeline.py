"""The classic daily ETL chain, standard library only.

    extract_orders -> transform_orders -> load_orders --+
    extract_customers -> transform_customers -----------+-> build_mart -> run_checks

Every step reads and writes one date partition (`{data_dir}/<layer>/<table>/<ds>.json`),
so a run is idempotent: running 2024-01-15 twice gives the same files.
Try it: `minorch run daily_pipeline --date 2024-01-15`.
"""

import json
import random
from pathlib import Path

from minorch import DAG, shell, task

DATA = Path(".minorch/data")


def _write(layer: str, table: str, ds: str, rows) -> str:
    path = DATA / layer / table / f"{ds}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows, indent=1, sort_keys=True))
    tmp.replace(path)  # atomic: a half-written partition is never seen
    return str(path)


def _read(path: str):
    return json.loads(Path(path).read_text())


with DAG(
    "daily_pipeline",
    schedule="0 2 * * *",
    timezone="UTC",
    retries=2,
    retry_delay="1s",
    description="Orders and customers into a daily mart, with checks",
):

    @task
    def extract_orders(ds):
        """Pretend source: 50 orders per day, the same for the same date."""
        rng = random.Random(ds)
        rows = [
            {"order_id": f"{ds}-{i}", "customer_id": rng.randrange(20), "amount": rng.randrange(5, 500)}
            for i in range(50)
        ]
        return _write("raw", "orders", ds, rows)

    @task
    def extract_customers(ds, try_number):
        """Flaky on purpose: the first try fails like a network blip; the retry succeeds."""
        if try_number == 1:
            raise ConnectionError("customers API timed out (simulated; the retry will succeed)")
        rows = [{"customer_id": i, "region": ["north", "south", "east", "west"][i % 4]} for i in range(20)]
        return _write("raw", "customers", ds, rows)

    @task
    def transform_orders(ds, raw):
        rows = [r for r in _read(raw) if r["amount"] > 0]
        return _write("staging", "orders", ds, rows)

    @task
    def transform_customers(ds, raw):
        return _write("staging", "customers", ds, sorted(_read(raw), key=lambda r: r["customer_id"]))

    @task
    def build_mart(ds, orders, customers):
        region = {c["customer_id"]: c["region"] for c in _read(customers)}
        totals = {}
        for order in _read(orders):
            key = region[order["customer_id"]]
            totals[key] = totals.get(key, 0) + order["amount"]
        return _write("mart", "revenue_by_region", ds, totals)

    raw_orders = extract_orders()
    orders = transform_orders(raw=raw_orders)
    load = shell(
        "load_orders",
        "mkdir -p .minorch/data/warehouse && "
        "cp .minorch/data/staging/orders/{{ ds }}.json .minorch/data/warehouse/orders_{{ ds_nodash }}.json",
    )
    orders >> load
    customers = transform_customers(raw=extract_customers())
    mart = build_mart(orders=orders, customers=customers)
    load >> mart
    checks = shell(
        "run_checks",
        'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); '
        "assert sum(d.values()) > 0, 'empty mart'; print('mart ok:', d)\" {{ xcom.build_mart }}",
    )
    mart >> checks
