"""Run and task states, the moves allowed between them, and trigger rules.

Names are Airflow's. A state is a `str` enum member so it goes straight into SQLite.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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

    def __str__(self) -> str:
        return self.value


def evaluate_trigger(rule: TriggerRule, upstream: Iterable[TaskState]) -> TaskState | None:
    """What a task whose upstream tasks are in `upstream` should do now.

    Returns SCHEDULED (run it), SKIPPED, UPSTREAM_FAILED, or None (not decided yet: wait).
    Airflow's meanings, including that `one_success`/`one_failed` fire as soon as one upstream
    task qualifies and that the "all" rules wait for every upstream task to finish.
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
    done = success + skipped + failed + upstream_failed
    all_done = done == total

    if rule is TriggerRule.ONE_SUCCESS:
        if success:
            return TaskState.SCHEDULED
        if all_done:
            return TaskState.SKIPPED if skipped == total else TaskState.UPSTREAM_FAILED
        return None
    if rule is TriggerRule.ONE_FAILED:
        if failed or upstream_failed:
            return TaskState.SCHEDULED
        return TaskState.SKIPPED if all_done else None
    if not all_done:
        # Airflow short-circuits all_success as soon as one upstream fails or is skipped.
        if rule is TriggerRule.ALL_SUCCESS and (failed or upstream_failed):
            return TaskState.UPSTREAM_FAILED
        if rule is TriggerRule.ALL_SUCCESS and skipped:
            return TaskState.SKIPPED
        if rule in (TriggerRule.NONE_FAILED, TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS) and (failed or upstream_failed):
            return TaskState.UPSTREAM_FAILED
        if rule is TriggerRule.ALL_FAILED and (success or skipped):
            return TaskState.SKIPPED
        if rule is TriggerRule.NONE_SKIPPED and skipped:
            return TaskState.SKIPPED
        return None
    if rule is TriggerRule.ALL_SUCCESS:
        if success == total:
            return TaskState.SCHEDULED
        return TaskState.UPSTREAM_FAILED if failed or upstream_failed else TaskState.SKIPPED
    if rule is TriggerRule.ALL_FAILED:
        return TaskState.SCHEDULED if failed + upstream_failed == total else TaskState.SKIPPED
    if rule is TriggerRule.ALL_DONE:
        return TaskState.SCHEDULED
    if rule is TriggerRule.NONE_FAILED:
        return TaskState.UPSTREAM_FAILED if failed or upstream_failed else TaskState.SCHEDULED
    if rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS:
        if failed or upstream_failed:
            return TaskState.UPSTREAM_FAILED
        return TaskState.SCHEDULED if success else TaskState.SKIPPED
    if rule is TriggerRule.NONE_SKIPPED:
        return TaskState.SKIPPED if skipped else TaskState.SCHEDULED
    raise AssertionError(rule)
