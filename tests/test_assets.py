"""Assets as plain data: the condition language, the planner's asset-triggered runs (fixed `now`,
no processes), and the checks across DAG files (unknown names, cycles through assets)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from minorch import Asset
from minorch import planner as P
from minorch.assets import AssetAll, AssetAny, ConditionError, parse_condition, split_schedule
from minorch.errors import DagError
from minorch.lineage import build, check, find_cycle, render
from minorch.records import DagRow, QueuedEvent, RunRecord, iso
from minorch.spec import build_dag
from minorch.states import RunState

NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=timezone.utc)


def make(dag_id: str, schedule=None, outlets=(), inlets=(), tz: str = "UTC"):
    task = {"command": "true", "outlets": list(outlets), "inlets": list(inlets)}
    spec = {"timezone": tz, "tasks": {"t": task}}
    if schedule is not None:
        spec["schedule"] = schedule
    return build_dag(dag_id, spec, file=f"dags/{dag_id}.toml")


def queued(*items: tuple[int, str, str | None]) -> list[QueuedEvent]:
    return [QueuedEvent(i, a, ds) for i, a, ds in items]


def decide(dags, queue: dict, runs=(), paused: set = frozenset()):
    rows = {d.dag_id: DagRow(d.dag_id, d.dag_id in paused, None, None, None, None, None, None) for d in dags}
    snap = P.Snapshot(rows, list(runs), {}, {}, queue)
    plan = P.plan({d.dag_id: d for d in dags}, snap, NOW, parallelism=4, pools={})
    return [a for a in plan.actions if isinstance(a, P.CreateAssetRun)]


def active_run(pk: int, dag_id: str, logical: str) -> RunRecord:
    return RunRecord(pk, dag_id, f"asset_triggered__{logical}", "asset_triggered", logical, None, None,
                     RunState.RUNNING, {}, None, None, None)  # fmt: skip


# ---------------------------------------------------------------- the condition language


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a", "a"),
        ("a & b", "a & b"),
        ("a & (b | c)", "a & (b | c)"),
        ("a | b & c", "a | (b & c)"),  # & binds tighter than |
        ("(a | b) & c", "(a | b) & c"),
        ("a & b & c", "a & b & c"),  # one AssetAll of three
        ("  orders.bronze-v2 &customers ", "orders.bronze-v2 & customers"),
    ],
)
def test_a_condition_parses_and_prints_back_in_canonical_form(text, shown):
    assert str(parse_condition(text)) == shown


@pytest.mark.parametrize(
    ("have", "met"),
    [
        (set(), False),
        ({"a"}, False),
        ({"b"}, False),
        ({"b", "c"}, False),
        ({"a", "b"}, True),
        ({"a", "c"}, True),
        ({"a", "b", "c"}, True),
        ({"x", "c"}, False),
    ],
)
def test_a_and_b_or_c_is_met_exactly_when_a_and_one_of_b_or_c_have_events(have, met):
    assert parse_condition("a & (b | c)").satisfied(have) is met
    assert (Asset("a") & (Asset("b") | Asset("c"))).satisfied(have) is met


def test_python_operators_build_the_same_condition_as_the_text():
    built = Asset("a") & (Asset("b") | Asset("c"))
    assert built == parse_condition("a & (b | c)")
    assert isinstance(built, AssetAll) and isinstance(built.items[1], AssetAny)
    assert built.names() == ["a", "b", "c"]


def test_missing_names_the_nearest_way_to_satisfy_a_condition():
    condition = parse_condition("a & (b & f | c & d & e)")
    assert condition.missing({"c", "d"}) == ["a", "e"]  # e alone completes the second branch; b & f need two
    assert condition.missing({"a"}) == ["b", "f"]
    assert condition.missing({"a", "b", "f"}) == []


@pytest.mark.parametrize(
    ("text", "column", "problem"),
    [
        ("a & | b", 5, "expected an asset name, found '|'"),
        ("a & (b | c", 5, "this '(' is never closed"),
        ("a b", 3, "unexpected 'b'"),
        ("a &", 4, "found the end"),
        ("a & b)", 6, "unexpected ')'"),
        ("a & $b", 5, "found '$'"),
    ],
)
def test_an_invalid_condition_names_its_column(text, column, problem):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.column == column
    assert f"column {column}: " in str(caught.value) and problem in str(caught.value)


def test_a_bad_condition_in_a_toml_dag_is_one_line_with_file_line_and_column():
    with pytest.raises(DagError) as caught:
        build_dag("gold", {"schedule": {"assets": "a & (b"}, "tasks": {"t": {"command": "true"}}},
                  file="dags/gold.toml", locate=lambda path: 7 if path[-1] == "schedule" else 3)  # fmt: skip
    assert str(caught.value).startswith(
        "dags/gold.toml:7: asset condition 'a & (b', column 5: this '(' is never closed"
    )


def test_a_schedule_table_takes_assets_cron_and_match_and_nothing_else():
    cron, assets = split_schedule({"assets": "a | b", "cron": "0 2 * * *", "match": "ds"})
    assert cron == "0 2 * * *" and str(assets) == "0 2 * * * or assets: a | b (per ds)"
    with pytest.raises(DagError, match="did you mean 'match'"):
        split_schedule({"assets": "a", "mach": "ds"})
    with pytest.raises(DagError, match="match = 'day' is not known"):
        split_schedule({"assets": "a", "match": "day"})


# ---------------------------------------------------------------- the planner


def test_a_condition_not_yet_met_creates_no_run():
    gold = make("gold", {"assets": "a & (b | c)"})
    assert decide([gold], {"gold": queued((1, "a", None), (2, "a", None))}) == []


def test_once_met_one_run_consumes_every_queued_event_and_several_events_of_one_asset_count_once():
    gold = make("gold", {"assets": "a & (b | c)"})
    queue = {"gold": queued((1, "a", None), (2, "a", None), (3, "c", None), (4, "a", None))}
    assert decide([gold], queue) == [P.CreateAssetRun("gold", (1, 2, 3, 4))]


def test_a_paused_dag_keeps_its_queue_and_gets_no_run():
    gold = make("gold", {"assets": "a"})
    assert decide([gold], {"gold": queued((1, "a", None))}, paused={"gold"}) == []


def test_per_day_matching_runs_once_per_day_whose_events_meet_the_condition():
    gold = make("gold", {"assets": "a & b", "match": "ds"})
    queue = {
        "gold": queued(
            (1, "a", "2024-01-01"), (2, "b", "2024-01-02"), (3, "b", "2024-01-01"), (4, "a", "2024-01-03"),
            (5, "a", "2024-01-02"), (6, "a", "2024-01-01"),
        )
    }  # fmt: skip
    assert decide([gold], queue) == [
        P.CreateAssetRun("gold", (1, 3, 6), "2024-01-01"),
        P.CreateAssetRun("gold", (2, 5), "2024-01-02"),
    ]


def test_per_day_events_wait_while_a_run_for_that_day_is_still_active():
    gold = make("gold", {"assets": "a", "match": "ds"}, tz="Europe/Berlin")
    queue = {"gold": queued((7, "a", "2024-01-02"), (8, "a", "2024-01-03"))}
    busy = active_run(1, "gold", iso(P.day_start("2024-01-02", "Europe/Berlin")))
    assert busy.logical_date == "2024-01-01T23:00:00+00:00"
    assert decide([gold], queue, runs=[busy]) == [P.CreateAssetRun("gold", (8,), "2024-01-03")]


def test_a_dag_on_cron_or_assets_gets_both_its_fires_and_its_asset_runs():
    both = make("both", {"assets": "a", "cron": "0 * * * *"})
    assert both.schedule.kind == "cron" and str(both.assets) == "0 * * * * or assets: a"
    rows = {"both": DagRow("both", False, None, None, None, iso(NOW.replace(minute=0, second=0)), None, None)}
    snap = P.Snapshot(rows, [], {}, {}, {"both": queued((1, "a", None))})
    plan = P.plan({"both": both}, snap, NOW, parallelism=4, pools={})
    assert [type(a).__name__ for a in plan.actions if not isinstance(a, P.SetFires)] == ["CreateRun", "CreateAssetRun"]


# ---------------------------------------------------------------- across DAG files


def test_an_unknown_asset_name_is_an_error_with_did_you_mean_and_the_other_dags_stay():
    dags = {
        "bronze": make("bronze", outlets=["orders_bronze"]),
        "silver": make("silver", {"assets": "orders_bronz"}, outlets=["orders_silver"]),
        "report": make("report", inlets=["orders_silver"]),
    }
    errors = check(dags, {})
    assert [str(e) for e in errors] == [
        "dags/silver.toml: DAG 'silver': its schedule names asset 'orders_bronz', which no task produces and no "
        "[assets] table declares (did you mean 'orders_bronze'?)"
    ]
    assert sorted(dags) == ["bronze", "report"]


def test_a_declared_asset_may_be_waited_for_without_a_producer():
    dags = {"silver": make("silver", {"assets": "feed"})}
    assert check(dags, {"feed": {"uri": "s3://x"}}) == [] and list(dags) == ["silver"]


def test_a_cycle_through_assets_is_reported_with_its_path_and_breaks_only_one_dag():
    dags = {
        "a": make("a", {"assets": "z"}, outlets=["x"]),
        "b": make("b", {"assets": "x"}, outlets=["y"]),
        "c": make("c", {"assets": "y"}, outlets=["z"]),
        "own": make("own", {"assets": "w"}, outlets=["w"]),
    }
    assert find_cycle(dags) == ["a", "x", "b", "y", "c", "z", "a"]
    errors = check(dags, {})
    assert [e.message for e in errors] == [
        "assets form a cycle: a -> x -> b -> y -> c -> z -> a",
        "assets form a cycle: own -> w -> own",
    ]
    assert sorted(dags) == ["b", "c"]


def test_lineage_is_drawn_as_text_dot_and_mermaid():
    dags = {
        "bronze": make("bronze", outlets=["orders_bronze"]),
        "silver": make("silver", {"assets": "orders_bronze"}, outlets=["orders_silver"]),
        "report": make("report", {"assets": "orders_silver"}, inlets=["orders_bronze"]),
    }
    lineage = build(dags, {})
    assert render(lineage, "text").splitlines() == [
        "bronze -> [orders_bronze] -> silver  (read by report.t)",
        "silver -> [orders_silver] -> report",
    ]
    assert '"dag:silver" -> "asset:orders_silver";' in render(lineage, "dot")
    assert "asset_orders_bronze --> dag_silver" in render(lineage, "mermaid")


# ---------------------------------------------------------------- freshness


def test_freshness_marks_assets_without_a_recent_event_stale_and_says_when_the_next_turns_stale():
    from minorch.freshness import check
    from minorch.store import AssetEvent

    def event(name: str, at: float) -> AssetEvent:
        return AssetEvent(1, name, None, None, None, None, at, None)

    limits = {"daily": 26 * 3600.0, "hourly": 3600.0, "never": 60.0}
    now = 1_000_000.0
    latest = {"daily": event("daily", now - 25 * 3600), "hourly": event("hourly", now - 3600)}
    found = check(limits, latest, now)
    assert [s.asset for s in found.stale] == ["hourly", "never"]  # exactly fresh_within ago is stale
    assert found.wake_at == now + 3600  # daily turns stale in an hour


def test_bad_asset_declarations_are_one_line_each_and_the_dags_still_load(tmp_path):
    from minorch.config import display_path, load_settings
    from minorch.registry import load

    (tmp_path / "dags").mkdir()
    (tmp_path / "minorch.toml").write_text('[minorch]\ndag_folders = ["dags"]\n[notifiers.ops]\ncommand = "cat"\n')
    (tmp_path / "dags" / "a.toml").write_text(
        '[assets.feed]\nfresh_within = "1d"\non_stale = ["opz"]\n\n'
        '[assets.other]\nuri = "s3://x"\nfresh_witin = "1h"\n\n'
        '[dags.ok]\n[dags.ok.tasks.t]\ncommand = "true"\noutlets = ["made"]\n'
    )
    registry = load(load_settings(tmp_path / "minorch.toml"))
    assert [str(e).replace(display_path(tmp_path) + "/", "") for e in registry.errors] == [
        "dags/a.toml:3: asset 'feed' uses notifier 'opz', which is not defined (did you mean 'ops'?)",
        "dags/a.toml:5: unknown asset option 'fresh_witin' (did you mean 'fresh_within'?)",
    ]
    assert list(registry.dags) == ["ok"]
