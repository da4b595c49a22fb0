"""Run and task states, the moves allowed between them, and trigger rules.

Names are Airflow's. A state is a `str` enum member so it goes straight into SQLite.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from enum import Enum


class RunState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCESS, RunState.FAILED)


class TaskState(str, Enum):
    NONE = "none"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value

    @property
    def finished(self) -> bool:
        return self in FINISHED

    @property
    def active(self) -> bool:
        """Holds (or is about to hold) an executor slot."""
        return self in (TaskState.QUEUED, TaskState.RUNNING)


FINISHED = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED})
FAILED_LIKE = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})

# The one table of allowed task moves. Operators (clear, mark) may also move any
# finished task back to NONE or to a finished state; those are listed here too.
TASK_MOVES: dict[TaskState, frozenset[TaskState]] = {
    # The scheduler starts a try in one step (NONE/UP_FOR_* -> RUNNING); QUEUED is for a
    # launch that waits on an executor slot.
    TaskState.NONE: frozenset(
        {
            TaskState.SCHEDULED,
            TaskState.QUEUED,
            TaskState.RUNNING,
            TaskState.UPSTREAM_FAILED,
            TaskState.SKIPPED,
            TaskState.SUCCESS,
            TaskState.FAILED,
        }
    ),
    TaskState.SCHEDULED: frozenset({TaskState.QUEUED, TaskState.NONE, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED}),
    TaskState.QUEUED: frozenset({TaskState.RUNNING, TaskState.NONE, TaskState.FAILED, TaskState.UP_FOR_RETRY}),
    TaskState.RUNNING: frozenset(
        {
            TaskState.SUCCESS,
            TaskState.FAILED,
            TaskState.UP_FOR_RETRY,
            TaskState.SKIPPED,
            TaskState.UP_FOR_RESCHEDULE,
            TaskState.NONE,
        }
    ),
    TaskState.UP_FOR_RETRY: frozenset(
        {TaskState.QUEUED, TaskState.RUNNING, TaskState.NONE, TaskState.FAILED, TaskState.SUCCESS, TaskState.SKIPPED}
    ),
    TaskState.UP_FOR_RESCHEDULE: frozenset(
        {TaskState.QUEUED, TaskState.RUNNING, TaskState.NONE, TaskState.FAILED, TaskState.SKIPPED, TaskState.SUCCESS}
    ),
    TaskState.SUCCESS: frozenset({TaskState.NONE, TaskState.FAILED, TaskState.SKIPPED}),
    TaskState.FAILED: frozenset({TaskState.NONE, TaskState.SUCCESS, TaskState.SKIPPED}),
    TaskState.UPSTREAM_FAILED: frozenset({TaskState.NONE, TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED}),
    TaskState.SKIPPED: frozenset({TaskState.NONE, TaskState.SUCCESS, TaskState.FAILED}),
}


def can_move(old: TaskState, new: TaskState) -> bool:
    return new in TASK_MOVES[old]


class TriggerRule(str, Enum):
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    ONE_DONE = "one_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_SKIPPED = "all_skipped"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"

    def __str__(self) -> str:
        return self.value


def evaluate_trigger(
    rule: TriggerRule, upstream: Iterable[TaskState], setups: Iterable[TaskState] = ()
) -> TaskState | None:
    """What a task whose upstream tasks are in `upstream` should do now.

    Returns SCHEDULED (run it), SKIPPED, UPSTREAM_FAILED, or None (not decided yet: wait).
    Airflow's meanings, including that `one_success`/`one_failed`/`one_done` fire as soon as one
    upstream task qualifies, that the "all" rules wait for every upstream task to finish, and that a
    rule that can no longer be met decides at once (`all_success` with a failed upstream task).
    `setups` are the states of the upstream tasks that are setup tasks (a subset of `upstream`);
    only `all_done_setup_success` (a teardown's rule) looks at them.
    A task with no upstream runs at once under every rule.
    """
    states = list(upstream)
    if not states or rule is TriggerRule.ALWAYS:
        return TaskState.SCHEDULED
    count = Counter(states)
    total = len(states)
    success, skipped = count[TaskState.SUCCESS], count[TaskState.SKIPPED]
    failed = count[TaskState.FAILED]
    upstream_failed = count[TaskState.UPSTREAM_FAILED]
    all_done = success + skipped + failed + upstream_failed == total
    verdict = _EARLY[rule](success, skipped, failed, upstream_failed, total)
    if verdict is not None or not all_done:
        return verdict
    if rule is TriggerRule.ALL_DONE_SETUP_SUCCESS:
        setup_states = list(setups)
        if setup_states and all(s is TaskState.SKIPPED for s in setup_states):
            return TaskState.SKIPPED
        if setup_states and TaskState.SUCCESS not in setup_states:
            return TaskState.UPSTREAM_FAILED
        return TaskState.SCHEDULED
    return _DONE[rule](success, skipped, failed, upstream_failed, total)


_S, _SK, _UF, _RUN = TaskState.SUCCESS, TaskState.SKIPPED, TaskState.UPSTREAM_FAILED, TaskState.SCHEDULED
_Counts = Callable[[int, int, int, int, int], "TaskState | None"]

# Before every upstream task finished: (success, skipped, failed, upstream_failed, total) -> a verdict
# the rule can already give, or None (wait). Also consulted first once all are done.
_EARLY: dict[TriggerRule, _Counts] = {
    TriggerRule.ALL_SUCCESS: lambda s, sk, f, uf, n: _UF if f or uf else _SK if sk else _RUN if s == n else None,
    TriggerRule.ALL_FAILED: lambda s, sk, f, uf, n: _SK if s or sk else _RUN if f + uf == n else None,
    TriggerRule.ALL_DONE: lambda s, sk, f, uf, n: None,
    TriggerRule.ONE_SUCCESS: lambda s, sk, f, uf, n: _RUN if s else None,
    TriggerRule.ONE_FAILED: lambda s, sk, f, uf, n: _RUN if f or uf else None,
    TriggerRule.ONE_DONE: lambda s, sk, f, uf, n: _RUN if s or f else None,
    TriggerRule.NONE_FAILED: lambda s, sk, f, uf, n: _UF if f or uf else None,
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: lambda s, sk, f, uf, n: _UF if f or uf else None,
    TriggerRule.NONE_SKIPPED: lambda s, sk, f, uf, n: _SK if sk else None,
    TriggerRule.ALL_SKIPPED: lambda s, sk, f, uf, n: _SK if s or f or uf else _RUN if sk == n else None,
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: lambda s, sk, f, uf, n: _SK if sk else None,
    TriggerRule.ALL_DONE_SETUP_SUCCESS: lambda s, sk, f, uf, n: None,
}

# Every upstream task finished and no early verdict: what the rule decides.
_DONE: dict[TriggerRule, _Counts] = {
    TriggerRule.ALL_DONE: lambda s, sk, f, uf, n: _RUN,
    TriggerRule.ONE_SUCCESS: lambda s, sk, f, uf, n: _SK if sk == n else _UF,
    TriggerRule.ONE_FAILED: lambda s, sk, f, uf, n: _SK,
    TriggerRule.ONE_DONE: lambda s, sk, f, uf, n: _SK,
    TriggerRule.NONE_FAILED: lambda s, sk, f, uf, n: _RUN,
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: lambda s, sk, f, uf, n: _RUN if s else _SK,
    TriggerRule.NONE_SKIPPED: lambda s, sk, f, uf, n: _RUN,
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: lambda s, sk, f, uf, n: _RUN if s else _UF,
}
