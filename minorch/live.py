"""The active runs and their task instances, kept in memory as the store says they are.

The scheduler reads them once, then only what changed: every write to a run or a task
instance, by any process (the scheduler itself, the CLI, the UI, a task), appends its key to
the store's change feed, and `refresh` re-reads just those rows. So a step costs what changed
since the last one, not the size of the backlog. `changed` tells the planner which tasks of
which runs to look at again (`WHOLE`: the whole run, e.g. a run that just became active).
"""

from __future__ import annotations

from .records import RunRecord, TaskInstance
from .states import RunState
from .store import Store

ACTIVE = (RunState.QUEUED, RunState.RUNNING)
WHOLE = None  # in `changed`: look at every task of the run
PRUNE_EVERY = 20_000  # feed entries read before the scheduler drops them from the state file


class LiveState:
    """Queued and running runs (`runs`, `tis`, `mapped` shaped like the planner's Snapshot) and
    the task instances that hold a slot (`held`), up to date as of the last `refresh`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.runs: dict[int, RunRecord] = {}
        self.tis: dict[int, dict[str, TaskInstance]] = {}
        self.mapped: dict[int, dict[str, dict[int, TaskInstance]]] = {}
        self.held: dict[tuple[int, str, int], str] = {}  # queued or running task instances -> their DAG
        self.changed: dict[int, set[str] | None] = {}  # run pk -> task ids changed since `take_changed`
        self.seen = -1  # the last feed id read; -1: nothing read yet
        self._order: list[RunRecord] | None = None  # runs by logical date, rebuilt when runs come or go

    def refresh(self) -> None:
        """Read what changed since the last refresh (everything, the first time)."""
        if self.seen < 0:
            self.reload()
            return
        newest, complete, runs, keys = self.store.changes_since(self.seen)
        if not complete:
            self.reload()
            return
        if runs:
            self._take_runs(runs)
        keys = [key for key in keys if key[0] in self.runs and key[0] not in runs]
        if keys:
            found = self.store.task_instances_by_key(keys)
            for key in keys:
                self._put(*key, found.get(key))
        read, self.seen = self.seen, newest  # only now: a refresh that failed halfway is read again
        if newest // PRUNE_EVERY != read // PRUNE_EVERY:
            self.store.prune_changes(newest)

    def reload(self) -> None:
        """Read every active run and its task instances again."""
        self.seen = self.store.last_change()  # first: what changes after it is read again later
        runs = self.store.active_runs()
        pks = [r.pk for r in runs]
        self.runs = {r.pk: r for r in runs}
        self.tis = self.store.task_instances(pks)
        self.mapped = self.store.mapped_instances(pks)
        self.held = {}
        for pk in pks:
            for tid, ti in self.tis[pk].items():
                self._hold(pk, tid, -1, ti)
            for tid, copies in self.mapped.get(pk, {}).items():
                for index, ti in copies.items():
                    self._hold(pk, tid, index, ti)
        self.changed = dict.fromkeys(pks, WHOLE)
        self._order = runs

    def ordered_runs(self) -> list[RunRecord]:
        """Active runs, oldest logical date first (as `Store.active_runs`)."""
        if self._order is None:
            self._order = sorted(self.runs.values(), key=lambda r: (r.logical_date, r.pk))
        return self._order

    def take_changed(self) -> dict[int, set[str] | None]:
        """What changed since the last call, per run, for the planner; starts a new tally."""
        changed, self.changed = self.changed, {}
        return changed

    def _take_runs(self, pks: set[int]) -> None:
        """Read these runs again, whole: active ones with all their task instances; the others leave."""
        found = self.store.runs_by_pk(pks)
        for pk in pks:
            if pk in self.runs:
                self._drop(pk)
        fresh = [pk for pk, run in found.items() if run.state in ACTIVE]
        if not fresh:
            return
        tis, mapped = self.store.task_instances(fresh), self.store.mapped_instances(fresh)
        for pk in fresh:
            self.runs[pk] = found[pk]
            self.tis[pk] = {}
            for tid, ti in tis[pk].items():
                self._put(pk, tid, -1, ti)
            for tid, copies in mapped.get(pk, {}).items():
                for index, ti in copies.items():
                    self._put(pk, tid, index, ti)
            self.changed[pk] = WHOLE
        self._order = None

    def _drop(self, pk: int) -> None:
        del self.runs[pk]
        self.tis.pop(pk, None)
        self.mapped.pop(pk, None)
        self.held = {key: dag_id for key, dag_id in self.held.items() if key[0] != pk}
        self.changed.pop(pk, None)
        self._order = None

    def _put(self, pk: int, task_id: str, map_index: int, ti: TaskInstance | None) -> None:
        """One task instance as read now (None: deleted)."""
        if map_index < 0:
            if ti is None:
                self.tis[pk].pop(task_id, None)
            else:
                self.tis[pk][task_id] = ti
        elif ti is None:
            copies = self.mapped.get(pk, {}).get(task_id)
            if copies is not None:
                copies.pop(map_index, None)
                if not copies:
                    del self.mapped[pk][task_id]
                    if not self.mapped[pk]:
                        del self.mapped[pk]
        else:
            self.mapped.setdefault(pk, {}).setdefault(task_id, {})[map_index] = ti
        self.held.pop((pk, task_id, map_index), None)
        if ti is not None:
            self._hold(pk, task_id, map_index, ti)
        tally = self.changed.get(pk, set())
        if tally is not WHOLE:
            tally.add(task_id)
            self.changed[pk] = tally

    def _hold(self, pk: int, task_id: str, map_index: int, ti: TaskInstance) -> None:
        if ti.state.active:
            self.held[(pk, task_id, map_index)] = self.runs[pk].dag_id
