"""Passing results between tasks (XCom): small values by return, big data as a path.

    extract --+--> summarize            (a Python task: gets extract's list as a parameter)
              +--> announce             (a shell task: reads {{ xcom.extract }} as JSON)
    export_events --> count_events      (1 MB of events go to a file; only its path travels)

A result must be JSON and at most 64 KB; anything bigger is written to a file whose path
is returned. Try it: `minorch run xcom --date 2024-01-15`, then
`minorch logs xcom manual__2024-01-15T00:00:00+00:00 announce`.
"""

import json
from pathlib import Path

from minorch import DAG, shell, task

DATA = Path(".minorch/data/events")

with DAG("xcom", description="Results between tasks: by parameter, in a template, and as a path"):

    @task
    def extract(ds):
        """A small result: returned as is and stored as JSON."""
        day = int(ds[-2:])
        return [{"city": city, "orders": day * n} for n, city in enumerate(["Oslo", "Lima", "Pune"], start=1)]

    @task
    def summarize(rows):
        """`rows` is extract's return value, because the DAG below calls summarize(rows=extract)."""
        total = sum(row["orders"] for row in rows)
        print(f"{len(rows)} cities, {total} orders")
        return {"cities": len(rows), "orders": total}

    @task
    def export_events(ds):
        """A big result: ~1 MB would be refused as a return value, so write it and return the path."""
        path = DATA / f"{ds}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as out:
            for i in range(20_000):
                out.write(json.dumps({"id": i, "day": ds, "kind": "click" if i % 3 else "view"}) + "\n")
        tmp.replace(path)  # atomic: a reader never sees half a file
        return str(path.resolve())  # absolute: right for a downstream task with another cwd too

    @task
    def count_events(path):
        with open(path) as events:
            views = sum(1 for line in events if json.loads(line)["kind"] == "view")
        print(f"{views} views in {path}")
        return views

    rows = extract()
    summarize(rows=rows)
    # The JSON of the result, quoted for the shell: a list reaches jq as one argument.
    rows >> shell("announce", "echo extracted {{ xcom.extract }}")
    count_events(path=export_events())
