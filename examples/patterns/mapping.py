"""Dynamic task mapping: one copy of a task per item of a list known only at run time.

    list_partitions -> load_partition[0..n-1] -> summarize

Try it: `minorch run mapping --date 2024-01-15`, then `minorch tasks mapping 2024-01-15`.
"""

from minorch import DAG, task

with DAG("mapping", schedule="@daily", description="Load every partition the source lists, then sum up"):

    @task
    def list_partitions(ds):
        """The source decides how many partitions there are today."""
        return [f"{ds}/part-{i:02d}" for i in range(1 + int(ds[-1]) % 4 + 2)]

    @task(retries=1, retry_delay="1s")
    def load_partition(partition, ds):
        """One copy per partition; each has its own tries and log."""
        rows = sum(ord(c) for c in partition) % 1000
        print(f"loaded {rows} rows from {partition}")
        return {"partition": partition, "rows": rows}

    @task
    def summarize(loaded):
        """Gets the copies' results as one list, in the order of the partitions."""
        total = sum(item["rows"] for item in loaded)
        print(f"{len(loaded)} partitions, {total} rows")
        return total

    summarize(loaded=load_partition.expand(partition=list_partitions()))
