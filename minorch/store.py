"""SQLite state: the single source of truth for DAGs, runs, task instances, attempts and results.

All SQL lives here; callers get records. Writers use `BEGIN IMMEDIATE` (a read-then-write
transaction would otherwise fail at once with "database is locked" when another process
committed in between). Every state change is a guarded write: `UPDATE ... WHERE state IN (...)`,
and the row count says whether it happened.

Thread safety: a `Store` holds one connection and is used by one thread. The TUI's worker
thread and CLI commands open their own `Store` on the same file.

Times: `logical_date` and data intervals are ISO 8601 strings in UTC (they name runs);
start/end/next-try times are float seconds since the epoch.
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import StoreError
from .records import AssetEvent, Attempt, DagRow, QueuedEvent, RunRecord, TaskInstance
from .states import RunState, TaskState

SCHEMA_VERSION = 8

MIGRATIONS: list[tuple[str, str]] = [
    (
        "initial",
        """
    CREATE TABLE dags (
        dag_id      TEXT PRIMARY KEY,
        paused      INTEGER NOT NULL DEFAULT 0,
        file        TEXT,
        schedule    TEXT,
        description TEXT,
        next_fire   TEXT,              -- ISO UTC of the next fire the scheduler will act on
        last_fire   TEXT,              -- ISO UTC of the latest fire a run was created (or skipped) for
        error       TEXT,              -- the load error of its file, if the last load failed
        seen_at     REAL
    );
    CREATE TABLE dag_runs (
        id                  INTEGER PRIMARY KEY,
        dag_id              TEXT NOT NULL,
        run_id              TEXT NOT NULL,
        run_type            TEXT NOT NULL,   -- scheduled | manual | backfill
        logical_date        TEXT NOT NULL,
        data_interval_start TEXT,
        data_interval_end   TEXT,
        state               TEXT NOT NULL,
        conf                TEXT NOT NULL DEFAULT '{}',
        queued_at           REAL,
        start_date          REAL,
        end_date            REAL,
        UNIQUE (dag_id, run_id)
    );
    CREATE INDEX dag_runs_by_dag ON dag_runs (dag_id, logical_date);
    CREATE INDEX dag_runs_active ON dag_runs (state) WHERE state IN ('queued', 'running');
    CREATE TABLE task_instances (
        run_pk      INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id     TEXT NOT NULL,
        map_index   INTEGER NOT NULL DEFAULT -1,
        state       TEXT NOT NULL DEFAULT 'none',
        try_number  INTEGER NOT NULL DEFAULT 0,   -- tries started (numbers the log files)
        try_base    INTEGER NOT NULL DEFAULT 0,   -- try_number when last cleared: retries count from here
        next_try_at REAL,                         -- when an up_for_retry / up_for_reschedule task may start
        start_date  REAL,
        end_date    REAL,
        duration    REAL,
        note        TEXT,                         -- the latest reason: "exited with code 1", "marked by user"
        PRIMARY KEY (run_pk, task_id, map_index)
    ) WITHOUT ROWID;
    CREATE TABLE attempts (
        id          INTEGER PRIMARY KEY,
        attempt_id  TEXT NOT NULL UNIQUE,
        run_pk      INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id     TEXT NOT NULL,
        map_index   INTEGER NOT NULL DEFAULT -1,
        try_number  INTEGER NOT NULL,
        pid         INTEGER,
        create_time REAL,
        start_date  REAL,
        end_date    REAL,
        duration    REAL,
        exit_code   INTEGER,
        signal      INTEGER,
        timed_out   INTEGER NOT NULL DEFAULT 0,
        counted     INTEGER NOT NULL DEFAULT 1,   -- 0: interrupted by a scheduler crash, not held against retries
        outcome     TEXT,                         -- success | failed | skipped | interrupted
        reason      TEXT,
        log_path    TEXT,
        peak_rss    INTEGER,
        cpu_time    REAL,
        command     TEXT
    );
    CREATE INDEX attempts_by_ti ON attempts (run_pk, task_id, map_index);
    CREATE INDEX attempts_open ON attempts (end_date) WHERE end_date IS NULL;
    CREATE TABLE load_errors (
        file    TEXT NOT NULL,
        line    INTEGER,
        message TEXT NOT NULL
    );
    CREATE TABLE xcom (
        run_pk    INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id   TEXT NOT NULL,
        map_index INTEGER NOT NULL DEFAULT -1,
        value     TEXT NOT NULL,
        PRIMARY KEY (run_pk, task_id, map_index)
    ) WITHOUT ROWID;
    """,
    ),
    (
        "sla_misses",
        """
    CREATE TABLE sla_misses (
        run_pk     INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id    TEXT NOT NULL,
        deadline   REAL NOT NULL,
        noticed_at REAL NOT NULL,
        PRIMARY KEY (run_pk, task_id)
    ) WITHOUT ROWID;
    """,
    ),
    (
        "xcom_keys",
        """
    CREATE TABLE xcom_keys (
        run_pk    INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        task_id   TEXT NOT NULL,
        map_index INTEGER NOT NULL DEFAULT -1,
        key       TEXT NOT NULL,
        value     TEXT NOT NULL,
        PRIMARY KEY (run_pk, task_id, map_index, key)
    ) WITHOUT ROWID;
    """,
    ),
    (
        "assets",
        """
    CREATE TABLE asset_events (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: consumers keep event ids
        asset      TEXT NOT NULL,
        ds         TEXT,                  -- the day the data is for: the producing run's ds, or emit --ds
        dag_id     TEXT,                  -- the producing task (NULL for `minorch asset emit`)
        run_id     TEXT,
        task_id    TEXT,
        created_at REAL NOT NULL,
        extra      TEXT NOT NULL DEFAULT 'null'   -- metadata (JSON): the task's result, or emit --extra
    );
    CREATE INDEX asset_events_by_asset ON asset_events (asset, id);
    CREATE TABLE asset_watches (          -- which DAG's schedule waits for which asset (from the DAG files)
        dag_id TEXT NOT NULL,
        asset  TEXT NOT NULL,
        PRIMARY KEY (asset, dag_id)
    ) WITHOUT ROWID;
    CREATE TABLE asset_queue (            -- events a waiting DAG has not consumed yet
        dag_id   TEXT NOT NULL,
        event_id INTEGER NOT NULL,
        asset    TEXT NOT NULL,
        ds       TEXT,
        PRIMARY KEY (dag_id, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE asset_run_events (       -- the events that started an asset-triggered run
        run_pk   INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
        event_id INTEGER NOT NULL,
        PRIMARY KEY (run_pk, event_id)
    ) WITHOUT ROWID;
    CREATE TABLE asset_stale (            -- freshness misses already notified, by the event they waited after
        asset      TEXT PRIMARY KEY,
        last_event INTEGER,
        noticed_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    ),
    (
        "variables_connections",
        """
    CREATE TABLE variables (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL              -- JSON: {"value": v} or a reference {"file": ...}, never a secret value
    ) WITHOUT ROWID;
    CREATE TABLE connections (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL              -- JSON: fields, each a literal or <field>_<backend>, never a password
    ) WITHOUT ROWID;
    """,
    ),
    (
        "attempt_placement",
        """
    -- executor: local or dask, external_id: the executor's name for the try (a Dask key),
    -- host: where it runs (NULL: this host). No comment may follow a column: SQLite keeps the text.
    ALTER TABLE attempts ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE attempts ADD COLUMN external_id TEXT;
    ALTER TABLE attempts ADD COLUMN host TEXT
    """,
    ),
    (
        "active_task_instances",
        """
    -- Crash recovery looks for task instances that say queued or running: a handful among millions.
    CREATE INDEX task_instances_active ON task_instances (state) WHERE state IN ('queued', 'running')
    """,
    ),
    (
        "change_feed",
        """
    -- The change feed: every write to a run or a task instance (through this module, by whichever
    -- process) appends its key here, in the same transaction. The scheduler keeps the active runs'
    -- task instances in memory and re-reads only what was named after the last id it saw.
    -- task_id NULL: the run itself (its row, or many of its task instances at once).
    -- AUTOINCREMENT: ids never go back, even once read entries are pruned.
    CREATE TABLE changes (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        run_pk    INTEGER NOT NULL,
        task_id   TEXT,
        map_index INTEGER
    )
    """,
    ),
]


def unusable(path: Path, err: sqlite3.DatabaseError) -> StoreError:
    """The one-line error for a state file SQLite cannot use, with the advice its cause calls for:
    only a damaged file is to be moved away."""
    kind = trouble_kind(err)
    if kind == "corrupt":
        hint = "move it away (minorch starts a new one) or restore it from a backup"
    elif kind == "busy":
        hint = "another process holds a write lock on it; wait for it to finish, or stop it"
    elif kind == "full":
        hint = f"free some space on the disk that holds {path.parent}"
    elif kind == "readonly":
        hint = (
            f"check that you may write {path.parent} and {path.name}, {path.name}-wal and {path.name}-shm in it "
            "(a read-only -shm left by another user blocks writers)"
        )
    elif kind == "io":
        hint = f"check the disk that holds {path.parent} (dmesg)"
    else:
        hint = "if this persists, run `minorch db check`"
    return StoreError(f"{path} cannot be used as a state file: {err}", hint=hint)


# SQLite's primary result codes (the low byte of an extended code) and what each means to us.
_TROUBLE = {5: "busy", 6: "busy", 8: "readonly", 10: "io", 11: "corrupt", 13: "full", 14: "readonly", 26: "corrupt"}
_TROUBLE_WORDS = (
    ("locked", "busy"),
    ("busy", "busy"),
    ("malformed", "corrupt"),
    ("not a database", "corrupt"),
    ("is full", "full"),
    ("readonly", "readonly"),
    ("unable to open", "readonly"),
    ("disk i/o", "io"),
)


def trouble_kind(err: sqlite3.Error) -> str:
    """What kind of failure a SQLite error is: "busy" (locked by another process: retry), "full"
    (no space), "io" (the disk failed a read or write), "readonly" (no permission), "corrupt"
    (a damaged file) or "other"."""
    code = getattr(err, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None and code & 0xFF in _TROUBLE:
        return _TROUBLE[code & 0xFF]
    text = str(err).lower()
    return next((kind for word, kind in _TROUBLE_WORDS if word in text), "other")


def _run(row: Sequence[Any]) -> RunRecord:
    return RunRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        row[6],
        RunState(row[7]),
        json.loads(row[8]),
        row[9],
        row[10],
        row[11],
    )


_TASK_STATES = {s.value: s for s in TaskState}  # a dict lookup is ~10x cheaper than TaskState(value)


def _ti(row: Sequence[Any]) -> TaskInstance:
    return TaskInstance(row[0], row[1], row[2], _TASK_STATES[row[3]], *row[4:])


_RUN_COLS = (
    "id, dag_id, run_id, run_type, logical_date, data_interval_start, data_interval_end, state, conf, "
    "queued_at, start_date, end_date"
)
_TI_COLS = "run_pk, task_id, map_index, state, try_number, try_base, next_try_at, start_date, end_date, duration, note"
_ATTEMPT_COLS = (
    "attempt_id, run_pk, task_id, map_index, try_number, pid, create_time, start_date, end_date, "
    "duration, exit_code, signal, timed_out, counted, outcome, reason, log_path, peak_rss, cpu_time, "
    "command, executor, external_id, host"
)


_EVENT_COLS = "id, asset, ds, dag_id, run_id, task_id, created_at, extra"


def _event(row: Sequence[Any]) -> AssetEvent:
    return AssetEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], json.loads(row[7]))


def _cumulate(rows: Iterable[tuple[str, int, int, float]], bounds: list[float]) -> list[tuple[str, list[int], float]]:
    """(dag_id, bucket index, count, sum) rows -> per DAG (dag_id, cumulative counts per bound then all, sum)."""
    result: dict[str, tuple[list[int], float]] = {}
    for dag_id, index, count, total in rows:
        counts, before = result.get(dag_id, ([0] * (len(bounds) + 1), 0.0))
        for i in range(index, len(bounds) + 1):  # a value counts in its bucket and in every one above
            counts[i] += count
        result[dag_id] = (counts, before + total)
    return [(dag_id, counts, total) for dag_id, (counts, total) in sorted(result.items())]


def _changed(db: sqlite3.Connection, run_pk: int, task_id: str | None = None, map_index: int | None = None) -> None:
    """Name a changed run (task_id None: its row or several of its task instances) or task instance
    in the change feed; call inside the transaction that changes it."""
    db.execute("INSERT INTO changes (run_pk, task_id, map_index) VALUES (?, ?, ?)", (run_pk, task_id, map_index))


def _placeholders(items: Iterable) -> str:
    return ",".join("?" * len(list(items)))


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection; a reader of a state file it may not write gets one anyway.

    Reading a WAL database needs its -shm file; in a folder this process may not write, SQLite
    can neither create it nor the -wal, and refuses ("attempt to write a readonly database").
    A reader then opens the file read-only (mode=ro, which uses a -shm that is there) and, failing
    that, as immutable: no -wal, -shm or locks at all. A folder nobody may write holds a file
    nobody changes, so immutable reads what is there."""

    def open_(uri: str | None = None) -> sqlite3.Connection:
        target = uri or path
        return sqlite3.connect(target, isolation_level=None, timeout=30.0, check_same_thread=False, uri=bool(uri))

    db = open_()
    if not readonly or (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)):
        return db
    base = "file:" + urllib.parse.quote(str(path.resolve()))
    for query in ("mode=ro", "mode=ro&immutable=1"):
        try:
            db.execute("PRAGMA user_version").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
            db = open_(f"{base}?{query}")
    return db


class Store:
    """One connection to the state file. `readonly=True` never creates or migrates it."""

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if not readonly:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not self.path.exists():
                # Created 0600 before SQLite opens it, so its -wal and -shm files are 0600 too.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        elif not self.path.exists():
            raise StoreError(f"{self.path}: no state file yet", hint="run `minorch up` or `minorch run DAG` first")
        self.db = _connect(self.path, readonly)
        try:
            self.db.execute("PRAGMA busy_timeout = 30000")
            self.db.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                self.db.execute("PRAGMA journal_mode = WAL")
                self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate(readonly)
        except sqlite3.DatabaseError as err:
            self.db.close()
            raise unusable(self.path, err) from None

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ plumbing

    def _migrate(self, readonly: bool) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} was written by a newer minorch (schema {version}, this one knows {SCHEMA_VERSION})",
                hint="upgrade minorch, or point state_dir at another folder",
            )
        if version == 0 and readonly:
            raise StoreError(
                f"{self.path}: no state yet (the file is empty)", hint="run `minorch up` or `minorch run DAG` first"
            )
        if version == SCHEMA_VERSION:
            return
        with self.write():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for number, (_name, sql) in enumerate(MIGRATIONS[version:], version + 1):
                for statement in sql.split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE); nested use joins the outer one."""
        if self.db.in_transaction:
            yield self.db
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def data_version(self) -> int:
        """Changes when another connection commits (PRAGMA data_version)."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # ------------------------------------------------------------ DAGs

    def sync_dag(
        self,
        dag_id: str,
        *,
        file: str | None,
        schedule: str | None,
        description: str | None,
        paused_default: bool,
        now: float,
    ) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO dags (dag_id, paused, file, schedule, description, seen_at, error) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (dag_id) DO UPDATE SET file = excluded.file, "
                "schedule = excluded.schedule, description = excluded.description, "
                "seen_at = excluded.seen_at, error = NULL",
                (dag_id, int(paused_default), file, schedule, description, now),
            )

    def set_dag_error(self, dag_id: str, error: str | None) -> None:
        with self.write() as db:
            db.execute("UPDATE dags SET error = ? WHERE dag_id = ?", (error, dag_id))

    def dag_rows(self) -> dict[str, DagRow]:
        rows = self.db.execute(
            "SELECT dag_id, paused, file, schedule, description, next_fire, last_fire, error FROM dags ORDER BY dag_id"
        )
        return {r[0]: DagRow(r[0], bool(r[1]), *r[2:]) for r in rows}

    def set_paused(self, dag_id: str, paused: bool) -> bool:
        with self.write() as db:
            return db.execute("UPDATE dags SET paused = ? WHERE dag_id = ?", (int(paused), dag_id)).rowcount == 1

    def set_fires(self, dag_id: str, *, next_fire: str | None, last_fire: str | None) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE dags SET next_fire = ?, last_fire = COALESCE(?, last_fire) WHERE dag_id = ?",
                (next_fire, last_fire, dag_id),
            )

    def set_load_errors(self, errors: Iterable[tuple[str | None, int | None, str]]) -> None:
        """Replace the list of DAG files that failed to load: (file, line, one-line message)."""
        with self.write() as db:
            db.execute("DELETE FROM load_errors")
            db.executemany(
                "INSERT INTO load_errors (file, line, message) VALUES (?, ?, ?)",
                [(f or "", line, msg) for f, line, msg in errors],
            )

    def load_errors(self) -> list[tuple[str, int | None, str]]:
        return list(self.db.execute("SELECT file, line, message FROM load_errors ORDER BY file, line"))

    # ------------------------------------------------------------ runs

    def create_run(
        self,
        dag_id: str,
        run_id: str,
        run_type: str,
        logical_date: str,
        interval_start: str | None,
        interval_end: str | None,
        task_ids: Iterable[str],
        *,
        conf: dict | None = None,
        now: float,
    ) -> int | None:
        """Insert a queued run and its task instances; None if that run id already exists."""
        with self.write() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO dag_runs (dag_id, run_id, run_type, logical_date, "
                "data_interval_start, data_interval_end, state, conf, queued_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?)",
                (dag_id, run_id, run_type, logical_date, interval_start, interval_end, json.dumps(conf or {}), now),
            )
            if cur.rowcount == 0:
                return None
            pk = cur.lastrowid
            db.executemany(
                "INSERT INTO task_instances (run_pk, task_id) VALUES (?, ?)", [(pk, tid) for tid in task_ids]
            )
            db.execute("INSERT INTO changes (run_pk) VALUES (?)", (pk,))
            return pk

    def task_states_between(self, dag_id: str, task_id: str, since: str, until: str) -> list[str]:
        """The states of `task_id` in the runs of `dag_id` with since <= logical_date < until (ISO UTC)."""
        rows = self.db.execute(
            "SELECT t.state FROM dag_runs r JOIN task_instances t ON t.run_pk = r.id "
            "WHERE r.dag_id = ? AND r.logical_date >= ? AND r.logical_date < ? AND t.task_id = ? AND t.map_index = -1",
            (dag_id, since, until, task_id),
        )
        return [state for (state,) in rows]

    def task_succeeded_between(self, dag_id: str, task_id: str, since: str, until: str) -> bool:
        """Did `task_id` succeed in a run of `dag_id` with since <= logical_date < until (ISO UTC)?"""
        row = self.db.execute(
            "SELECT 1 FROM dag_runs r JOIN task_instances t ON t.run_pk = r.id "
            "WHERE r.dag_id = ? AND r.logical_date >= ? AND r.logical_date < ? "
            "AND t.task_id = ? AND t.state = 'success' LIMIT 1",
            (dag_id, since, until, task_id),
        ).fetchone()
        return row is not None

    def sla_misses(self) -> set[tuple[int, str]]:
        """(run pk, task id) of the SLA misses already noticed (and notified) in active runs."""
        rows = self.db.execute(
            "SELECT m.run_pk, m.task_id FROM sla_misses m JOIN dag_runs r ON r.id = m.run_pk "
            "WHERE r.state IN ('queued', 'running')"
        )
        return {(pk, tid) for pk, tid in rows}

    def record_sla_miss(self, run_pk: int, task_id: str, deadline: float, now: float) -> bool:
        """True the first time a miss is recorded: notify then, and never again for it."""
        with self.write() as db:
            return (
                db.execute(
                    "INSERT OR IGNORE INTO sla_misses (run_pk, task_id, deadline, noticed_at) VALUES (?, ?, ?, ?)",
                    (run_pk, task_id, deadline, now),
                ).rowcount
                == 1
            )

    def add_task_instances(self, run_pk: int, task_ids: Iterable[str]) -> None:
        """Task instances for tasks added to a DAG after its run was created."""
        with self.write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO task_instances (run_pk, task_id) VALUES (?, ?)",
                [(run_pk, tid) for tid in task_ids],
            )
            _changed(db, run_pk)

    def set_run_conf(self, pk: int, conf: dict) -> None:
        with self.write() as db:
            db.execute("UPDATE dag_runs SET conf = ? WHERE id = ?", (json.dumps(conf), pk))
            _changed(db, pk)

    def run(self, pk: int) -> RunRecord | None:
        row = self.db.execute(f"SELECT {_RUN_COLS} FROM dag_runs WHERE id = ?", (pk,)).fetchone()
        return _run(row) if row else None

    def existing_run(self, pk: int) -> RunRecord:
        """The run `pk`, which the caller knows is there (it made it, or holds it in memory)."""
        run = self.run(pk)
        if run is None:
            raise StoreError(
                f"run {pk} is not in the state file any more", hint="was it deleted by `minorch db prune`?"
            )
        return run

    def run_by_id(self, dag_id: str, run_id: str) -> RunRecord | None:
        row = self.db.execute(
            f"SELECT {_RUN_COLS} FROM dag_runs WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
        ).fetchone()
        return _run(row) if row else None

    def runs(
        self,
        dag_id: str | None = None,
        *,
        states: Iterable[str] | None = None,
        limit: int | None = 50,
        since: str | None = None,
        until: str | None = None,
    ) -> list[RunRecord]:
        """Newest first (by logical date)."""
        where, args = [], []
        if dag_id is not None:
            where.append("dag_id = ?")
            args.append(dag_id)
        if states:
            states = list(states)
            where.append(f"state IN ({_placeholders(states)})")
            args += [str(s) for s in states]
        if since:
            where.append("logical_date >= ?")
            args.append(since)
        if until:
            where.append("logical_date <= ?")
            args.append(until)
        sql = f"SELECT {_RUN_COLS} FROM dag_runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY logical_date DESC, id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_run(r) for r in self.db.execute(sql, args)]

    def active_runs(self) -> list[RunRecord]:
        """Queued and running runs, oldest logical date first."""
        rows = self.db.execute(
            f"SELECT {_RUN_COLS} FROM dag_runs WHERE state IN ('queued', 'running') ORDER BY logical_date, id"
        )
        return [_run(r) for r in rows]

    def set_run_state(self, pk: int, new: RunState, expect: Iterable[RunState], *, now: float) -> bool:
        allowed = [str(s) for s in expect]
        stamp = "start_date = COALESCE(start_date, ?)" if new is RunState.RUNNING else "end_date = ?"
        if new is RunState.QUEUED:
            stamp = "end_date = NULL, start_date = NULL, queued_at = ?"
        with self.write() as db:
            cur = db.execute(
                f"UPDATE dag_runs SET state = ?, {stamp} WHERE id = ? AND state IN ({_placeholders(allowed)})",
                (str(new), now, pk, *allowed),
            )
            if cur.rowcount == 1:
                _changed(db, pk)
            return cur.rowcount == 1

    # ------------------------------------------------------------ task instances

    def previous_run_states(self, dag_id: str, logical_date: str) -> dict[str, TaskState] | None:
        """Task states of the DAG's run just before `logical_date` (None when there is none)."""
        row = self.db.execute(
            "SELECT id FROM dag_runs WHERE dag_id = ? AND logical_date < ? ORDER BY logical_date DESC LIMIT 1",
            (dag_id, logical_date),
        ).fetchone()
        if row is None:
            return None
        rows = self.db.execute(
            "SELECT task_id, state FROM task_instances WHERE run_pk = ? AND map_index = -1", (row[0],)
        )
        return {tid: TaskState(state) for tid, state in rows}

    def task_instances(self, run_pks: Iterable[int]) -> dict[int, dict[str, TaskInstance]]:
        """{run_pk: {task_id: ti}}: one row per task (map_index -1; for a mapped task, the row
        that stands for all its copies)."""
        pks = list(run_pks)
        result: dict[int, dict[str, TaskInstance]] = {pk: {} for pk in pks}
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for row in self.db.execute(
                f"SELECT {_TI_COLS} FROM task_instances WHERE run_pk IN ({_placeholders(chunk)}) AND map_index = -1",
                chunk,
            ):
                result[row[0]][row[1]] = _ti(row)
        return result

    def mapped_instances(self, run_pks: Iterable[int]) -> dict[int, dict[str, dict[int, TaskInstance]]]:
        """{run_pk: {task_id: {map_index: ti}}} for the copies of mapped tasks (map_index >= 0)."""
        pks = list(run_pks)
        result: dict[int, dict[str, dict[int, TaskInstance]]] = {}
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for row in self.db.execute(
                f"SELECT {_TI_COLS} FROM task_instances WHERE run_pk IN ({_placeholders(chunk)}) AND map_index >= 0",
                chunk,
            ):
                result.setdefault(row[0], {}).setdefault(row[1], {})[row[2]] = _ti(row)
        return result

    # ------------------------------------------------------------ the change feed

    def last_change(self) -> int:
        """The id of the newest entry of the change feed (0: none yet)."""
        return self.db.execute("SELECT COALESCE(MAX(id), 0) FROM changes").fetchone()[0]

    def changes_since(self, seen: int) -> tuple[int, bool, set[int], list[tuple[int, str, int]]]:
        """What the feed names after id `seen`: (newest id, complete, runs changed as a whole, task
        instances changed). `complete` is false when entries after `seen` were pruned already: the
        reader must then read everything again."""
        ids = self.db.execute("SELECT MIN(id), MAX(id) FROM changes WHERE id > ?", (seen,)).fetchone()
        if ids[0] is None:
            return seen, True, set(), []
        if ids[0] != seen + 1:  # ids have no gaps, but pruning takes entries away
            return ids[1], False, set(), []
        runs: set[int] = set()
        tis: list[tuple[int, str, int]] = []
        for run_pk, task_id, map_index in self.db.execute(
            "SELECT DISTINCT run_pk, task_id, map_index FROM changes WHERE id > ? AND id <= ?", (seen, ids[1])
        ):
            if task_id is None:
                runs.add(run_pk)
            else:
                tis.append((run_pk, task_id, map_index))
        return ids[1], True, runs, tis

    def task_instances_by_key(self, keys: Iterable[tuple[int, str, int]]) -> dict[tuple[int, str, int], TaskInstance]:
        """The task instances of `keys` (run pk, task id, map index) that exist: one primary-key
        lookup each (a row-value IN list would scan the table)."""
        sql = f"SELECT {_TI_COLS} FROM task_instances WHERE run_pk = ? AND task_id = ? AND map_index = ?"
        found: dict[tuple[int, str, int], TaskInstance] = {}
        for key in keys:
            row = self.db.execute(sql, key).fetchone()
            if row is not None:
                found[key] = _ti(row)
        return found

    def prune_changes(self, upto: int) -> None:
        """Drop feed entries up to id `upto` (the scheduler has read them). A reader that had not
        is told by `changes_since` to read everything again."""
        with self.write() as db:
            db.execute("DELETE FROM changes WHERE id <= ?", (upto,))

    def runs_by_pk(self, pks: Iterable[int]) -> dict[int, RunRecord]:
        """The runs of `pks` that still exist."""
        pks = list(pks)
        found: dict[int, RunRecord] = {}
        for at in range(0, len(pks), 500):
            chunk = pks[at : at + 500]
            for row in self.db.execute(f"SELECT {_RUN_COLS} FROM dag_runs WHERE id IN ({_placeholders(chunk)})", chunk):
                found[row[0]] = _run(row)
        return found

    def task_instance(self, run_pk: int, task_id: str, map_index: int = -1) -> TaskInstance | None:
        row = self.db.execute(
            f"SELECT {_TI_COLS} FROM task_instances WHERE run_pk = ? AND task_id = ? AND map_index = ?",
            (run_pk, task_id, map_index),
        ).fetchone()
        return _ti(row) if row else None

    def expand_task(self, run_pk: int, task_id: str, count: int, *, now: float, note: str) -> bool:
        """Create `count` copies (map_index 0..count-1) of a task and mark the task itself running."""
        with self.write() as db:
            moved = (
                db.execute(
                    "UPDATE task_instances SET state = 'running', start_date = ?, end_date = NULL, "
                    "note = ? WHERE run_pk = ? AND task_id = ? AND map_index = -1 AND state = 'none'",
                    (now, note, run_pk, task_id),
                ).rowcount
                == 1
            )
            if moved:
                db.execute(
                    "DELETE FROM task_instances WHERE run_pk = ? AND task_id = ? AND map_index >= 0", (run_pk, task_id)
                )
                db.executemany(
                    "INSERT INTO task_instances (run_pk, task_id, map_index) VALUES (?, ?, ?)",
                    [(run_pk, task_id, i) for i in range(count)],
                )
                _changed(db, run_pk)
            return moved

    def mapped_results(self, run_pk: int, task_id: str) -> list:
        """The results of a mapped task's copies, in map_index order (None where a copy returned nothing)."""
        count = self.db.execute(
            "SELECT COUNT(*) FROM task_instances WHERE run_pk = ? AND task_id = ? AND map_index >= 0", (run_pk, task_id)
        ).fetchone()[0]
        found = dict(
            self.db.execute(
                "SELECT map_index, value FROM xcom WHERE run_pk = ? AND task_id = ? AND map_index >= 0",
                (run_pk, task_id),
            )
        )
        return [json.loads(found[i]) if i in found else None for i in range(count)]

    def set_task_state(
        self,
        run_pk: int,
        task_id: str,
        new: TaskState,
        expect: Iterable[TaskState],
        *,
        map_index: int = -1,
        **fields: object,
    ) -> bool:
        """Guarded move; `fields` sets other columns (try_number, next_try_at, start_date, end_date, duration, note)."""
        allowed = [str(s) for s in expect]
        sets = ", ".join(["state = ?"] + [f"{name} = ?" for name in fields])
        with self.write() as db:
            cur = db.execute(
                f"UPDATE task_instances SET {sets} WHERE run_pk = ? AND task_id = ? AND map_index = ? "
                f"AND state IN ({_placeholders(allowed)})",
                (str(new), *fields.values(), run_pk, task_id, map_index, *allowed),
            )
            if cur.rowcount == 1:
                _changed(db, run_pk, task_id, map_index)
            return cur.rowcount == 1

    # ------------------------------------------------------------ attempts

    def start_attempt(self, attempt: Attempt) -> None:
        with self.write() as db:
            db.execute(
                f"INSERT INTO attempts ({_ATTEMPT_COLS}) VALUES ({_placeholders(range(23))})",
                (
                    attempt.attempt_id,
                    attempt.run_pk,
                    attempt.task_id,
                    attempt.map_index,
                    attempt.try_number,
                    attempt.pid,
                    attempt.create_time,
                    attempt.start_date,
                    attempt.end_date,
                    attempt.duration,
                    attempt.exit_code,
                    attempt.signal,
                    int(attempt.timed_out),
                    int(attempt.counted),
                    attempt.outcome,
                    attempt.reason,
                    attempt.log_path,
                    attempt.peak_rss,
                    attempt.cpu_time,
                    attempt.command,
                    attempt.executor,
                    attempt.external_id,
                    attempt.host,
                ),
            )

    def finish_attempt(
        self,
        attempt_id: str,
        *,
        end_date: float,
        duration: float | None,
        exit_code: int | None,
        signal: int | None,
        timed_out: bool,
        outcome: str,
        reason: str,
        peak_rss: int | None = None,
        cpu_time: float | None = None,
        counted: bool = True,
    ) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE attempts SET end_date = ?, duration = ?, exit_code = ?, signal = ?, timed_out = ?, "
                "outcome = ?, reason = ?, peak_rss = ?, cpu_time = ?, counted = ? "
                "WHERE attempt_id = ? AND end_date IS NULL",
                (
                    end_date,
                    duration,
                    exit_code,
                    signal,
                    int(timed_out),
                    outcome,
                    reason,
                    peak_rss,
                    cpu_time,
                    int(counted),
                    attempt_id,
                ),
            )

    def stuck_task_instances(self) -> list[tuple[str, TaskInstance]]:
        """(dag_id, task instance) of every unmapped task instance that says queued or running, in
        a queued or running run: one query, whatever the number of runs."""
        cols = ", ".join(f"t.{c}" for c in _TI_COLS.split(", "))
        rows = self.db.execute(
            f"SELECT r.dag_id, {cols} FROM task_instances t JOIN dag_runs r ON r.id = t.run_pk "
            "WHERE t.state IN ('queued', 'running') AND t.map_index = -1 AND r.state IN ('queued', 'running') "
            "ORDER BY t.run_pk, t.task_id"
        )
        return [(row[0], _ti(row[1:])) for row in rows]

    def last_tries(self, keys: Iterable[tuple[int, str, int]]) -> dict[tuple[int, str, int], Attempt]:
        """The newest unmapped attempt of each (run_pk, task_id, try_number) that has one."""
        keys = list(keys)
        found: dict[tuple[int, str, int], Attempt] = {}
        for at in range(0, len(keys), 300):
            chunk = keys[at : at + 300]
            rows = self.db.execute(
                f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE map_index = -1 AND (run_pk, task_id, try_number) IN "
                f"(VALUES {', '.join(['(?, ?, ?)'] * len(chunk))}) ORDER BY id",
                [value for key in chunk for value in key],
            )
            for row in rows:
                attempt = Attempt(*row)
                found[(attempt.run_pk, attempt.task_id, attempt.try_number)] = attempt
        return found

    def set_attempt_process(
        self,
        attempt_id: str,
        pid: int | None,
        create_time: float | None,
        external_id: str | None = None,
        host: str | None = None,
    ) -> None:
        """The process of a try recorded before it started (its pid is known only after the spawn),
        and where it runs: the executor's name for it and its host (kept when not given)."""
        with self.write() as db:
            db.execute(
                "UPDATE attempts SET pid = ?, create_time = ?, external_id = COALESCE(?, external_id), "
                "host = COALESCE(?, host) WHERE attempt_id = ? AND end_date IS NULL",
                (pid, create_time, external_id, host, attempt_id),
            )

    def recorded_attempt_ids(self, attempt_ids: Iterable[str]) -> set[str]:
        """Those of `attempt_ids` that have a row."""
        ids = list(attempt_ids)
        found: set[str] = set()
        for at in range(0, len(ids), 500):
            chunk = ids[at : at + 500]
            rows = self.db.execute(
                f"SELECT attempt_id FROM attempts WHERE attempt_id IN ({_placeholders(chunk)})", chunk
            )
            found.update(row[0] for row in rows)
        return found

    def open_attempts(self) -> list[Attempt]:
        """Attempts with no end: their process was running when the scheduler last stopped."""
        rows = self.db.execute(f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE end_date IS NULL ORDER BY id")
        return [Attempt(*r) for r in rows]

    def last_failed_attempt(self) -> Attempt | None:
        """The try that most recently ended as failed, if any."""
        row = self.db.execute(
            f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE outcome = 'failed' ORDER BY end_date DESC, id DESC LIMIT 1"
        ).fetchone()
        return Attempt(*row) if row else None

    def attempts(self, run_pk: int, task_id: str | None = None) -> list[Attempt]:
        sql = f"SELECT {_ATTEMPT_COLS} FROM attempts WHERE run_pk = ?"
        args: list = [run_pk]
        if task_id is not None:
            sql += " AND task_id = ?"
            args.append(task_id)
        return [Attempt(*r) for r in self.db.execute(sql + " ORDER BY id", args)]

    # ------------------------------------------------------------ results (XCom)

    def put_xcom(self, run_pk: int, task_id: str, value_json: str, map_index: int = -1) -> None:
        with self.write() as db:
            db.execute(
                "INSERT OR REPLACE INTO xcom (run_pk, task_id, map_index, value) VALUES (?, ?, ?, ?)",
                (run_pk, task_id, map_index, value_json),
            )

    def put_xcom_keys(self, run_pk: int, task_id: str, values: dict[str, str], map_index: int = -1) -> None:
        """Results pushed under their own keys (`ti.xcom_push`, `multiple_outputs`); values are JSON text."""
        with self.write() as db:
            db.executemany(
                "INSERT OR REPLACE INTO xcom_keys (run_pk, task_id, map_index, key, value) VALUES (?, ?, ?, ?, ?)",
                [(run_pk, task_id, map_index, key, value) for key, value in values.items()],
            )

    def pull_xcom(self, run_pk: int, task_id: str, key: str = "return_value", map_index: int = -1) -> object:
        """One result of a task of the run: its return value (key "return_value"; for a mapped task at
        map_index -1 the list of its copies' values) or a pushed key. None when there is none."""
        if key == "return_value":
            row = self.db.execute(
                "SELECT value FROM xcom WHERE run_pk = ? AND task_id = ? AND map_index = ?",
                (run_pk, task_id, map_index),
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT value FROM xcom_keys WHERE run_pk = ? AND task_id = ? AND map_index = ? AND key = ?",
                (run_pk, task_id, map_index, key),
            ).fetchone()
        return json.loads(row[0]) if row else None

    def all_results(self, run_pk: int, task_ids: Iterable[str]) -> list[tuple[str, int, str | None, str]]:
        """Every result those tasks left in a run, copies' and pushed keys' too: (task id, map index,
        key or None for the return value, JSON text)."""
        ids = list(task_ids)
        if not ids:
            return []
        where = f"run_pk = ? AND task_id IN ({_placeholders(ids)})"
        values = self.db.execute(f"SELECT task_id, map_index, NULL, value FROM xcom WHERE {where}", (run_pk, *ids))
        keys = self.db.execute(f"SELECT task_id, map_index, key, value FROM xcom_keys WHERE {where}", (run_pk, *ids))
        return [*values, *keys]

    def run_links(self, dag_id: str, run_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """{run_id: (dag_id, run_id) of the run that triggered it} for those of `run_ids` of `dag_id` that a
        trigger_dag task queued: that task's results `trigger_dag_id` and `trigger_run_id` name them."""
        wanted = [json.dumps(r) for r in run_ids]
        links: dict[str, tuple[str, str]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self.db.execute(
                "SELECT b.value, r.dag_id, r.run_id FROM xcom_keys a JOIN xcom_keys b ON b.run_pk = a.run_pk "
                "AND b.task_id = a.task_id AND b.map_index = a.map_index AND b.key = 'trigger_run_id' "
                "JOIN dag_runs r ON r.id = a.run_pk WHERE a.key = 'trigger_dag_id' AND a.value = ? "
                f"AND b.value IN ({_placeholders(chunk)}) ORDER BY r.id",
                (json.dumps(dag_id), *chunk),
            )
            for value, parent_dag, parent_run in rows:
                links.setdefault(json.loads(value), (parent_dag, parent_run))
        return links

    def xcoms(self, run_pk: int, task_ids: Iterable[str]) -> dict[str, object]:
        ids = list(task_ids)
        if not ids:
            return {}
        rows = self.db.execute(
            f"SELECT task_id, value FROM xcom WHERE run_pk = ? AND map_index = -1 AND task_id IN "
            f"({_placeholders(ids)})",
            (run_pk, *ids),
        )
        return {tid: json.loads(value) for tid, value in rows}

    # ------------------------------------------------------------ views

    def recent_states(self, per_dag: int) -> dict[str, list[str]]:
        """The states of the latest `per_dag` runs of every DAG, newest first: {dag_id: [state, ...]}.

        One query: for each DAG with runs, `per_dag` steps down the `dag_runs_by_dag` index. About 5 ms for
        100 DAGs with 50 runs each, where a window over the whole table took 35 ms and grew with history.
        """
        rows = self.db.execute(
            "SELECT d.dag_id, r.state FROM (SELECT DISTINCT dag_id FROM dag_runs) d JOIN dag_runs r ON r.id IN "
            "(SELECT id FROM dag_runs WHERE dag_id = d.dag_id ORDER BY logical_date DESC, id DESC LIMIT ?) "
            "ORDER BY d.dag_id, r.logical_date DESC, r.id DESC",
            (per_dag,),
        )
        result: dict[str, list[str]] = {}
        for dag_id, state in rows:
            result.setdefault(dag_id, []).append(state)
        return result

    def task_history(
        self, dag_id: str, task_id: str, runs: int
    ) -> list[tuple[str, str | None, float | None, float | None, int | None]]:
        """A task over the DAG's newest `runs` runs, oldest first: (logical date, the task's state, its first
        try's start, its last try's end (None while one runs), the highest peak RSS of its tries); one row per
        run, with Nones where the run has no try of it. A mapped task's copies count as the task."""
        return list(
            self.db.execute(
                "SELECT r.logical_date, (SELECT t.state FROM task_instances t WHERE t.run_pk = r.id AND t.task_id = ? "
                "AND t.map_index = -1), MIN(a.start_date), CASE WHEN COUNT(a.start_date) > COUNT(a.end_date) "
                "THEN NULL ELSE MAX(a.end_date) END, MAX(a.peak_rss) "
                "FROM (SELECT id, logical_date FROM dag_runs WHERE dag_id = ? ORDER BY logical_date DESC, id DESC "
                "LIMIT ?) r LEFT JOIN attempts a ON a.run_pk = r.id AND a.task_id = ? "
                "GROUP BY r.id ORDER BY r.logical_date, r.id",
                (task_id, dag_id, runs, task_id),
            )
        )

    # ------------------------------------------------------------ metrics (aggregates over the whole file)

    def run_state_counts(self) -> list[tuple[str, str, int]]:
        """(dag_id, state, runs), sorted."""
        return list(self.db.execute("SELECT dag_id, state, COUNT(*) FROM dag_runs GROUP BY 1, 2 ORDER BY 1, 2"))

    def try_summary(
        self, bounds: Iterable[float]
    ) -> tuple[list[tuple[str, str, int]], list[tuple[str, list[int], float]]]:
        """One pass over the tries: (dag_id, outcome, tries) sorted, a try not ended yet counting as 'running';
        and per DAG the finished tries' durations as a histogram (as `_histogram` returns it)."""
        bounds = [float(b) for b in bounds]
        bucket = " ".join(f"WHEN duration <= {b!r} THEN {i}" for i, b in enumerate(bounds))
        rows = self.db.execute(
            "SELECT r.dag_id, c.outcome, c.bucket, SUM(c.n), TOTAL(c.total) FROM (SELECT run_pk, "
            "COALESCE(outcome, 'running') AS outcome, "
            f"CASE WHEN duration IS NULL THEN -1 {bucket} ELSE {len(bounds)} END AS bucket, COUNT(*) AS n, "
            "TOTAL(duration) AS total FROM attempts GROUP BY 1, 2, 3) c JOIN dag_runs r ON r.id = c.run_pk "
            "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        outcomes: dict[tuple[str, str], int] = {}
        for dag_id, outcome, _bucket, count, _total in rows:
            outcomes[dag_id, outcome] = outcomes.get((dag_id, outcome), 0) + count
        durations = _cumulate(((dag_id, index, n, total) for dag_id, _o, index, n, total in rows if index >= 0), bounds)
        return [(dag, outcome, n) for (dag, outcome), n in outcomes.items()], durations

    def active_task_state_totals(self) -> dict[str, int]:
        """{state: task instances} of the queued and running runs (only those have tasks that wait or run)."""
        return dict(
            self.db.execute(
                "SELECT state, COUNT(*) FROM task_instances WHERE run_pk IN "
                "(SELECT id FROM dag_runs WHERE state IN ('queued', 'running')) GROUP BY state"
            )
        )

    def open_attempt_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM attempts WHERE end_date IS NULL").fetchone()[0]

    def sla_miss_counts(self) -> dict[str, int]:
        return dict(
            self.db.execute("SELECT r.dag_id, COUNT(*) FROM sla_misses s JOIN dag_runs r ON r.id = s.run_pk GROUP BY 1")
        )

    def last_successes(self) -> dict[str, float]:
        """{dag_id: end of its newest successful run}."""
        return dict(
            self.db.execute(
                "SELECT dag_id, MAX(end_date) FROM dag_runs WHERE state = 'success' AND end_date IS NOT NULL GROUP BY 1"
            )
        )

    def lateness_histogram(self, bounds: Iterable[float]) -> list[tuple[str, list[int], float]]:
        """Per DAG, as `_histogram` returns it, scheduled runs' lateness: their first try's start minus the
        fire time (the end of the data interval)."""
        return self._histogram(
            "SELECT a.run_pk AS run_pk, "
            "MAX(0.0, MIN(a.start_date) - CAST(strftime('%s', r.data_interval_end) AS REAL)) AS value "
            "FROM attempts a JOIN dag_runs r ON r.id = a.run_pk WHERE r.run_type = 'scheduled' "
            "AND r.data_interval_end IS NOT NULL AND a.start_date IS NOT NULL GROUP BY a.run_pk",
            bounds,
        )

    def _histogram(self, values_sql: str, bounds: Iterable[float]) -> list[tuple[str, list[int], float]]:
        """Per DAG: counts of `values_sql`'s values (rows of run_pk, value; NULL values skipped) at or below each
        bound, then all, and their sum. Each value is placed in its bucket once, counted per run, and only then
        joined to the runs. `values_sql` is an aggregate query, which SQLite does not flatten into this one
        (a flattened computed value would be computed once per use)."""
        bounds = [float(b) for b in bounds]
        bucket = " ".join(f"WHEN value <= {b!r} THEN {i}" for i, b in enumerate(bounds))
        rows = self.db.execute(
            f"SELECT r.dag_id, c.bucket, SUM(c.n), TOTAL(c.total) FROM (SELECT run_pk, CASE {bucket} "
            f"ELSE {len(bounds)} END AS bucket, COUNT(*) AS n, TOTAL(value) AS total FROM ({values_sql}) "
            "WHERE value IS NOT NULL GROUP BY run_pk, bucket) c JOIN dag_runs r ON r.id = c.run_pk "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return _cumulate(rows, bounds)

    # ------------------------------------------------------------ operations

    def runs_between(self, dag_id: str, since: str, before: str) -> list[RunRecord]:
        """Runs with `since` <= logical date < `before` (ISO UTC), newest first."""
        rows = self.db.execute(
            f"SELECT {_RUN_COLS} FROM dag_runs WHERE dag_id = ? AND logical_date >= ? "
            "AND logical_date < ? ORDER BY logical_date DESC, id DESC",
            (dag_id, since, before),
        )
        return [_run(r) for r in rows]

    def clear_task_instances(
        self, run_pk: int, task_ids: Iterable[str], expect: Iterable[TaskState], *, note: str
    ) -> list[str]:
        """Move those of `task_ids` whose state is in `expect` back to 'none' with fresh retries
        (try_base = try_number) and delete their XCom, in one transaction. Returns the ids moved."""
        ids, allowed = list(task_ids), [str(s) for s in expect]
        if not ids or not allowed:
            return []
        with self.write() as db:
            rows = db.execute(
                "UPDATE task_instances SET state = 'none', try_base = try_number, next_try_at = NULL, "
                "start_date = NULL, end_date = NULL, duration = NULL, note = ? "
                f"WHERE run_pk = ? AND task_id IN ({_placeholders(ids)}) AND map_index = -1 "
                f"AND state IN ({_placeholders(allowed)}) RETURNING task_id",
                (note, run_pk, *ids, *allowed),
            ).fetchall()
            cleared = sorted({r[0] for r in rows})
            if cleared:
                _changed(db, run_pk)
            if cleared:  # a cleared mapped task expands afresh when it runs again
                db.execute(
                    f"DELETE FROM task_instances WHERE run_pk = ? AND map_index >= 0 AND task_id IN "
                    f"({_placeholders(cleared)})",
                    (run_pk, *cleared),
                )
                for table in ("xcom", "xcom_keys"):
                    db.execute(
                        f"DELETE FROM {table} WHERE run_pk = ? AND task_id IN ({_placeholders(cleared)})",
                        (run_pk, *cleared),
                    )
            return cleared

    def upsert_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause, also a DAG no scheduler has seen yet (its first sync keeps the choice)."""
        with self.write() as db:
            db.execute(
                "INSERT INTO dags (dag_id, paused) VALUES (?, ?) "
                "ON CONFLICT (dag_id) DO UPDATE SET paused = excluded.paused",
                (dag_id, int(paused)),
            )

    def task_state_counts(self, run_pks: Iterable[int]) -> dict[int, dict[str, int]]:
        """{run_pk: {state: number of task instances}}."""
        pks = list(run_pks)
        result: dict[int, dict[str, int]] = {pk: {} for pk in pks}
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for pk, state, count in self.db.execute(
                f"SELECT run_pk, state, COUNT(*) FROM task_instances WHERE run_pk IN ({_placeholders(chunk)}) "
                "GROUP BY run_pk, state",
                chunk,
            ):
                result[pk][state] = count
        return result

    def finished_runs_before(self, cutoff: float) -> list[RunRecord]:
        """Finished runs that ended (or, never started, were queued) before `cutoff` (epoch seconds)."""
        rows = self.db.execute(
            f"SELECT {_RUN_COLS} FROM dag_runs WHERE state IN ('success', 'failed') "
            "AND COALESCE(end_date, queued_at, 0) < ? ORDER BY id",
            (cutoff,),
        )
        return [_run(r) for r in rows]

    def count_run_rows(self, run_pks: Iterable[int]) -> tuple[int, int]:
        """(task instances, attempts) belonging to those runs."""
        pks = list(run_pks)
        counts = {"task_instances": 0, "attempts": 0}
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for table in counts:
                counts[table] += self.db.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE run_pk IN ({_placeholders(chunk)})", chunk
                ).fetchone()[0]
        return counts["task_instances"], counts["attempts"]

    def delete_runs(self, run_pks: Iterable[int]) -> tuple[int, int, list[str]]:
        """Delete runs with their task instances, attempts and XCom (ON DELETE CASCADE), in one
        transaction. Returns (task instances deleted, attempts deleted, the attempts' log paths)."""
        pks = list(run_pks)
        paths: list[str] = []
        with self.write() as db:
            tis, attempts = self.count_run_rows(pks)
            for start in range(0, len(pks), 500):
                chunk = pks[start : start + 500]
                marks = _placeholders(chunk)
                paths += [
                    r[0]
                    for r in db.execute(
                        f"SELECT log_path FROM attempts WHERE run_pk IN ({marks}) AND log_path IS NOT NULL", chunk
                    )
                ]
                db.execute(f"DELETE FROM dag_runs WHERE id IN ({marks})", chunk)
                db.executemany("INSERT INTO changes (run_pk) VALUES (?)", [(pk,) for pk in chunk])
        return tis, attempts, paths

    def integrity_problems(self, *, full: bool = False) -> list[str]:
        """SQLite's own check (quick_check, or the slower integrity_check with `full`); [] when sound."""
        pragma = "integrity_check" if full else "quick_check"
        rows = [r[0] for r in self.db.execute(f"PRAGMA {pragma}")]
        return [] if rows == ["ok"] else rows

    def orphan_rows(self) -> dict[str, int]:
        """{table: rows whose run no longer exists} (PRAGMA foreign_key_check)."""
        counts: dict[str, int] = {}
        for row in self.db.execute("PRAGMA foreign_key_check"):
            counts[row[0]] = counts.get(row[0], 0) + 1
        return counts

    def active_task_instances(self) -> list[tuple[int, str, str, str, str]]:
        """(run_pk, dag_id, run_id, task_id, state) of task instances that are queued or running."""
        return list(
            self.db.execute(
                "SELECT t.run_pk, r.dag_id, r.run_id, t.task_id, t.state FROM task_instances t "
                "JOIN dag_runs r ON r.id = t.run_pk WHERE t.state IN ('queued', 'running') "
                "ORDER BY r.dag_id, r.run_id, t.task_id"
            )
        )

    def run_states(self, run_pks: Iterable[int]) -> dict[int, RunState]:
        """{run_pk: state} for those runs that exist."""
        pks = list(run_pks)
        result: dict[int, RunState] = {}
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for pk, state in self.db.execute(
                f"SELECT id, state FROM dag_runs WHERE id IN ({_placeholders(chunk)})", chunk
            ):
                result[pk] = RunState(state)
        return result

    # ------------------------------------------------------------ assets

    def add_asset_event(
        self,
        asset: str,
        *,
        ds: str | None,
        extra_json: str,
        now: float,
        dag_id: str | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
    ) -> int:
        """Record an event and queue it for every DAG waiting for the asset, in one transaction
        (the caller's, when it holds one: a task's success and its events commit together)."""
        with self.write() as db:
            event_id = db.execute(
                "INSERT INTO asset_events (asset, ds, dag_id, run_id, task_id, created_at, extra) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (asset, ds, dag_id, run_id, task_id, now, extra_json),
            ).lastrowid
            assert event_id is not None  # set by every INSERT
            db.execute(
                "INSERT INTO asset_queue (dag_id, event_id, asset, ds) SELECT dag_id, ?, asset, ? "
                "FROM asset_watches WHERE asset = ?",
                (event_id, ds, asset),
            )
            return event_id

    def set_asset_watches(self, watches: dict[str, Iterable[str]]) -> None:
        """Replace which DAG waits for which assets ({dag_id: asset names}); queued events of
        assets a DAG no longer waits for are dropped."""
        pairs = {(a, d) for d, names in watches.items() for a in names}
        with self.write() as db:
            old = set(db.execute("SELECT asset, dag_id FROM asset_watches"))
            gone = old - pairs
            db.executemany("DELETE FROM asset_watches WHERE asset = ? AND dag_id = ?", gone)
            db.executemany("DELETE FROM asset_queue WHERE asset = ? AND dag_id = ?", gone)
            db.executemany("INSERT INTO asset_watches (asset, dag_id) VALUES (?, ?)", pairs - old)

    def asset_queue(self) -> dict[str, list[QueuedEvent]]:
        """{dag_id: its unconsumed events, oldest first}."""
        result: dict[str, list[QueuedEvent]] = {}
        make = QueuedEvent._make
        for row in self.db.execute("SELECT dag_id, event_id, asset, ds FROM asset_queue ORDER BY dag_id, event_id"):
            found = result.get(row[0])
            if found is None:
                found = result[row[0]] = []
            found.append(make(row[1:]))
        return result

    def consume_asset_events(self, dag_id: str, run_pk: int, event_ids: Iterable[int]) -> int:
        """Take events off a DAG's queue and link them to the run they started; returns how many."""
        ids = list(event_ids)
        with self.write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO asset_run_events (run_pk, event_id) VALUES (?, ?)", [(run_pk, i) for i in ids]
            )
            return sum(
                db.execute("DELETE FROM asset_queue WHERE dag_id = ? AND event_id = ?", (dag_id, i)).rowcount
                for i in ids
            )

    def run_asset_events(self, run_pk: int) -> list[AssetEvent]:
        """The events that started a run (none for runs not triggered by assets)."""
        rows = self.db.execute(
            f"SELECT {', '.join('e.' + c.strip() for c in _EVENT_COLS.split(','))} FROM asset_run_events r "
            "JOIN asset_events e ON e.id = r.event_id WHERE r.run_pk = ? ORDER BY e.id",
            (run_pk,),
        )
        return [_event(r) for r in rows]

    def triggered_by(self, run_pks: Iterable[int]) -> dict[int, list[str]]:
        """{run_pk: the assets whose events started it} for those of the runs an asset condition started."""
        pks = list(run_pks)
        result: dict[int, list[str]] = {}
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            for pk, asset in self.db.execute(
                "SELECT DISTINCT r.run_pk, e.asset FROM asset_run_events r JOIN asset_events e ON e.id = r.event_id "
                f"WHERE r.run_pk IN ({_placeholders(chunk)}) ORDER BY r.run_pk, e.asset",
                chunk,
            ):
                result.setdefault(pk, []).append(asset)
        return result

    def latest_asset_events(self, assets: Iterable[str] | None = None) -> dict[str, AssetEvent]:
        """{asset: its newest event} (of those named, or of every asset with an event)."""
        names = None if assets is None else list(assets)
        sql = f"SELECT {_EVENT_COLS} FROM asset_events WHERE id IN (SELECT MAX(id) FROM asset_events"
        if names is not None:
            if not names:
                return {}
            sql += f" WHERE asset IN ({_placeholders(names)})"
        rows = self.db.execute(sql + " GROUP BY asset)", names or ())
        return {row[1]: _event(row) for row in rows}

    def asset_events(self, asset: str, limit: int = 50) -> list[AssetEvent]:
        """An asset's events, newest first."""
        rows = self.db.execute(
            f"SELECT {_EVENT_COLS} FROM asset_events WHERE asset = ? ORDER BY id DESC LIMIT ?", (asset, limit)
        )
        return [_event(r) for r in rows]

    def stale_noticed(self) -> dict[str, int | None]:
        """{asset: the newest event id when its staleness was notified}."""
        return dict(self.db.execute("SELECT asset, last_event FROM asset_stale"))

    def record_stale(self, asset: str, last_event: int | None, now: float) -> bool:
        """True the first time an asset is noticed stale after its event `last_event`: notify once."""
        with self.write() as db:
            row = db.execute("SELECT last_event FROM asset_stale WHERE asset = ?", (asset,)).fetchone()
            if row is not None and row[0] == last_event:
                return False
            db.execute(
                "INSERT OR REPLACE INTO asset_stale (asset, last_event, noticed_at) VALUES (?, ?, ?)",
                (asset, last_event, now),
            )
            return True

    # ------------------------------------------------------------ variables and connections

    def variables(self) -> dict[str, str]:
        """Stored variables: name -> spec (JSON text, see `minorch.secrets.parse_source`)."""
        return dict(self.db.execute("SELECT name, spec FROM variables"))

    def connections(self) -> dict[str, str]:
        """Stored connections: name -> spec (JSON text, see `minorch.secrets.parse_connection`)."""
        return dict(self.db.execute("SELECT name, spec FROM connections"))

    def put_definition(self, kind: str, name: str, spec: str) -> None:
        """Insert or replace a variable (`kind` "variables") or connection ("connections")."""
        table = _DEFINITIONS[kind]
        with self.write():
            self.db.execute(f"INSERT OR REPLACE INTO {table} (name, spec) VALUES (?, ?)", (name, spec))

    def delete_definition(self, kind: str, name: str) -> bool:
        table = _DEFINITIONS[kind]
        with self.write():
            return self.db.execute(f"DELETE FROM {table} WHERE name = ?", (name,)).rowcount > 0


_DEFINITIONS = {"variables": "variables", "connections": "connections"}
