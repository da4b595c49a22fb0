"""Schema migrations: a state file written by an older minorch is brought up to date once."""

from __future__ import annotations

import sqlite3

from conftest import try_row

from minorch.store import MIGRATIONS, SCHEMA_VERSION, Store


def test_a_state_file_from_before_placement_gains_the_placement_of_tries_and_keeps_its_rows(tmp_path):
    path = tmp_path / "minorch.db"
    old = sqlite3.connect(path)
    placement = [name for name, _ in MIGRATIONS].index("attempt_placement")
    for _name, sql in MIGRATIONS[:placement]:
        old.executescript(sql)
    old.execute(f"PRAGMA user_version = {placement}")
    old.execute(
        "INSERT INTO dag_runs (id, dag_id, run_id, run_type, logical_date, state) "
        "VALUES (1, 'd', 'r', 'manual', 'x', 'running')"
    )
    old.execute("INSERT INTO attempts (attempt_id, run_pk, task_id, try_number) VALUES ('old', 1, 't', 1)")
    old.commit()
    old.close()
    store = Store(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    [kept] = store.open_attempts()
    assert (kept.attempt_id, kept.executor, kept.external_id, kept.host) == ("old", "local", None, None)
    store.start_attempt(try_row("new", 1, "t", 1.0, try_number=2, executor="dask", external_id="minorch-new"))
    store.set_attempt_process("new", 42, 5.0, None, "tcp://127.0.0.1:4001")
    new = next(a for a in store.open_attempts() if a.attempt_id == "new")
    assert (new.executor, new.external_id, new.host, new.pid) == ("dask", "minorch-new", "tcp://127.0.0.1:4001", 42)
