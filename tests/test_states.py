"""Trigger rules with Airflow's meanings, the states' predicates and the table of task moves."""

from __future__ import annotations

import pytest

from minorch.scheduler import LAUNCHABLE
from minorch.states import TASK_MOVES, RunState, TaskState, TriggerRule, can_move, evaluate_trigger

S, F, UF, SK = TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED, TaskState.SKIPPED
N, R, RETRY = TaskState.NONE, TaskState.RUNNING, TaskState.UP_FOR_RETRY
RUN, WAIT = TaskState.SCHEDULED, None  # the verdicts: run it now / not decided yet

# Every upstream task finished: (rule, upstream states, verdict).
DECIDED = [
    ("all_success", [S, S], RUN),
    ("all_success", [S, F], UF),
    ("all_success", [S, UF], UF),
    ("all_success", [S, SK], SK),
    ("all_success", [SK, F], UF),
    ("all_failed", [F, UF], RUN),
    ("all_failed", [F, S], SK),
    ("all_failed", [F, SK], SK),
    ("all_done", [S, F, UF, SK], RUN),
    ("one_success", [F, S], RUN),
    ("one_success", [F, UF], UF),
    ("one_success", [SK, SK], SK),
    ("one_success", [SK, F], UF),
    ("one_failed", [S, F], RUN),
    ("one_failed", [S, UF], RUN),
    ("one_failed", [S, SK], SK),
    ("none_failed", [S, SK], RUN),
    ("none_failed", [SK, SK], RUN),
    ("none_failed", [S, F], UF),
    ("none_failed", [S, UF], UF),
    ("none_failed_min_one_success", [S, SK], RUN),
    ("none_failed_min_one_success", [SK, SK], SK),
    ("none_failed_min_one_success", [S, F], UF),
    ("none_skipped", [S, F, UF], RUN),
    ("none_skipped", [S, SK], SK),
    ("always", [F, UF, SK], RUN),
    ("one_done", [F, SK], RUN),
    ("one_done", [S, UF], RUN),
    ("one_done", [UF, SK], SK),
    ("one_done", [SK, SK], SK),
    ("all_done_min_one_success", [S, F, UF], RUN),
    ("all_done_min_one_success", [F, UF], UF),
    ("all_done_min_one_success", [S, SK], SK),
    ("all_skipped", [SK, SK], RUN),
    ("all_skipped", [SK, S], SK),
    ("all_skipped", [SK, UF], SK),
    ("all_done_setup_success", [S, F, UF, SK], RUN),
]

# Some upstream task still unfinished: the rules that can already decide do, the others wait.
UNFINISHED = [
    ("all_success", [S, R], WAIT),
    ("all_success", [F, R], UF),
    ("all_success", [SK, R], SK),
    ("all_success", [S, RETRY], WAIT),
    ("all_failed", [F, R], WAIT),
    ("all_failed", [S, R], SK),
    ("all_done", [S, F, R], WAIT),
    ("one_success", [S, R], RUN),
    ("one_success", [F, R], WAIT),
    ("one_failed", [F, R], RUN),
    ("one_failed", [UF, N], RUN),
    ("one_failed", [S, R], WAIT),
    ("none_failed", [S, R], WAIT),
    ("none_failed", [F, R], UF),
    ("none_failed_min_one_success", [SK, R], WAIT),
    ("none_failed_min_one_success", [UF, R], UF),
    ("none_skipped", [S, R], WAIT),
    ("always", [N, R], RUN),
    ("one_done", [F, R], RUN),
    ("one_done", [S, N], RUN),
    ("one_done", [UF, R], WAIT),
    ("one_done", [SK, R], WAIT),
    ("all_done_min_one_success", [S, R], WAIT),
    ("all_done_min_one_success", [F, R], WAIT),
    ("all_done_min_one_success", [SK, R], SK),
    ("all_skipped", [SK, R], WAIT),
    ("all_skipped", [F, R], SK),
    ("all_done_setup_success", [S, R], WAIT),
]

# all_done_setup_success (a teardown's rule) with its upstream setup tasks' states given apart:
# (upstream, setups among them, verdict).
SETUP_CASES = [
    ([S, F], [S], RUN),  # the setup succeeded: the teardown runs although the work failed
    ([S, F, SK], [S, F], RUN),  # one of two setups succeeded: enough
    ([F, UF], [F], UF),  # the setup failed: nothing to tear down
    ([SK, SK], [SK], SK),  # the setup was skipped: so is the teardown
    ([F, R], [F], WAIT),  # work still running: wait even though the setup failed
    ([F, SK], [], RUN),  # no setup upstream: like all_done
]


@pytest.mark.parametrize(("upstream", "setups", "verdict"), SETUP_CASES)
def test_all_done_setup_success_runs_when_all_are_done_and_one_setup_succeeded(upstream, setups, verdict):
    assert evaluate_trigger(TriggerRule.ALL_DONE_SETUP_SUCCESS, upstream, setups) is verdict


def test_there_are_airflows_thirteen_rules():
    assert len(TriggerRule) == 13


def _ids(cases):
    return [f"{rule}-{'+'.join(s.value for s in states)}" for rule, states, _ in cases]


@pytest.mark.parametrize(("rule", "upstream", "verdict"), DECIDED, ids=_ids(DECIDED))
def test_each_rule_decides_as_airflow_once_every_upstream_task_finished(rule, upstream, verdict):
    assert evaluate_trigger(TriggerRule(rule), upstream) is verdict


@pytest.mark.parametrize(("rule", "upstream", "verdict"), UNFINISHED, ids=_ids(UNFINISHED))
def test_each_rule_waits_or_decides_early_as_airflow_while_upstream_runs(rule, upstream, verdict):
    assert evaluate_trigger(TriggerRule(rule), upstream) is verdict


def test_none_skipped_skips_as_soon_as_one_upstream_task_is_skipped():
    assert evaluate_trigger(TriggerRule.NONE_SKIPPED, [SK, R]) is SK


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_task_without_upstream_runs_at_once_under_every_rule(rule):
    assert evaluate_trigger(rule, []) is RUN


def test_the_order_of_upstream_states_does_not_matter():
    for rule in TriggerRule:
        assert evaluate_trigger(rule, [F, S, R]) is evaluate_trigger(rule, [R, S, F])


def test_finished_and_active_states_are_what_the_scheduler_counts_on():
    assert {s for s in TaskState if s.finished} == {S, F, UF, SK}
    assert {s for s in TaskState if s.active} == {TaskState.QUEUED, R}
    assert {s for s in RunState if s.finished} == {RunState.SUCCESS, RunState.FAILED}
    assert str(TaskState.UP_FOR_RETRY) == "up_for_retry"


def test_every_state_has_a_row_in_the_table_of_moves_and_none_moves_to_itself():
    assert set(TASK_MOVES) == set(TaskState)
    for state, targets in TASK_MOVES.items():
        assert state not in targets


def test_every_finished_task_can_be_cleared_and_a_running_one_can_end_every_way():
    assert all(can_move(s, N) for s in TaskState if s.finished)
    assert {S, F, RETRY, SK} <= TASK_MOVES[R]
    assert not can_move(S, R)
    assert not can_move(UF, RETRY)


def test_the_moves_the_scheduler_makes_to_start_a_try_are_in_the_table():
    assert all(can_move(state, R) for state in LAUNCHABLE)
