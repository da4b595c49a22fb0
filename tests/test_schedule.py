"""Schedules: cron syntax, cron's day rule, intervals, DST, logical dates."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from minorch.errors import ScheduleError
from minorch.schedule import RunDates, logical_dates_in, parse_schedule, run_dates

UTC = timezone.utc
NOW = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def take(expr: str, n: int, after: datetime = NOW, tz: str = "UTC") -> list[datetime]:
    schedule, fires, t = parse_schedule(expr, tz), [], after
    for _ in range(n):
        t = schedule.next_fire(t)
        fires.append(t)
    return fires


# --- syntax -----------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, first, second",
    [
        ("@hourly", utc(2024, 1, 1, 1), utc(2024, 1, 1, 2)),
        ("@daily", utc(2024, 1, 2), utc(2024, 1, 3)),
        ("@midnight", utc(2024, 1, 2), utc(2024, 1, 3)),
        ("@weekly", utc(2024, 1, 7), utc(2024, 1, 14)),
        ("@monthly", utc(2024, 2, 1), utc(2024, 3, 1)),
        ("@yearly", utc(2025, 1, 1), utc(2026, 1, 1)),
        ("@annually", utc(2025, 1, 1), utc(2026, 1, 1)),
    ],
)
def test_presets_fire_at_their_cron_times(expr, first, second):
    assert take(expr, 2) == [first, second]
    assert parse_schedule(expr).kind == "cron"


def test_steps_ranges_and_lists_select_the_right_times():
    assert take("*/15 * * * *", 3) == [utc(2024, 1, 1, 0, 15), utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 0, 45)]
    assert [t.hour for t in take("0 9-17/4 * * *", 4)] == [9, 13, 17, 9]
    assert [t.minute for t in take("5,7,50-52 * * * *", 5)] == [5, 7, 50, 51, 52]


def test_month_and_day_names_are_read_in_any_case():
    fires = take("0 6 * JAN,jul Mon-Fri", 6, after=utc(2024, 1, 28))
    assert [t.strftime("%a %m-%d") for t in fires] == [
        "Mon 01-29",
        "Tue 01-30",
        "Wed 01-31",
        "Mon 07-01",
        "Tue 07-02",
        "Wed 07-03",
    ]


def test_a_sixth_field_is_seconds_and_comes_first():
    assert take("*/10 * * * * *", 3) == [
        utc(2024, 1, 1, 0, 0, 10),
        utc(2024, 1, 1, 0, 0, 20),
        utc(2024, 1, 1, 0, 0, 30),
    ]
    assert take("30 15 2 * * *", 2) == [utc(2024, 1, 1, 2, 15, 30), utc(2024, 1, 2, 2, 15, 30)]


def test_zero_and_seven_are_both_sunday():
    sundays = take("0 0 * * 0", 3)
    assert take("0 0 * * 7", 3) == take("0 0 * * sun", 3) == sundays
    assert all(t.weekday() == 6 for t in sundays)
    assert [t.strftime("%a") for t in take("0 0 * * 5-7", 3)] == ["Fri", "Sat", "Sun"]


def test_restricting_both_day_fields_fires_on_either():
    fires = take("0 0 1,15 * mon", 7, after=utc(2024, 1, 2))
    assert [t.strftime("%a %d") for t in fires] == [
        "Mon 08",
        "Mon 15",
        "Mon 22",
        "Mon 29",
        "Thu 01",
        "Mon 05",
        "Mon 12",
    ]


def test_a_day_field_starting_with_a_star_makes_both_day_fields_required():
    # Vixie cron: '*/2' in day-of-month means odd dates AND Mondays, not OR.
    fires = take("0 0 */2 * mon", 4)
    assert [t.strftime("%a %m-%d") for t in fires] == ["Mon 01-15", "Mon 01-29", "Mon 02-05", "Mon 02-19"]
    assert all(t.weekday() == 0 for t in take("0 0 * * mon", 5))
    assert all(t.day == 1 for t in take("0 0 1 * *", 5))


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 */2 * mon",
        "0 0 1,15 * mon",
        "0 0 1-7 * */3",
        "30 4 */10 2-11 1-5",
        "0 12 13 * fri",
        "*/20 */5 * * *",
        "0 0 29 2 *",
        "15 3 * * 0,7",
    ],
)
def test_day_rule_agrees_with_croniter_in_cron_bug_mode(expr):
    ours = list(parse_schedule(expr).fires(utc(2023, 12, 1), utc(2025, 12, 31)))
    theirs, it = [], croniter(expr, datetime(2023, 11, 30, 23, 59), implement_cron_bug=True)
    while (t := it.get_next(datetime)) <= datetime(2025, 12, 31):
        theirs.append(t.replace(tzinfo=UTC))
    assert ours == theirs


def test_every_interval_is_anchored_at_the_epoch_in_utc():
    assert take("every 10m", 2, after=utc(2024, 1, 1, 0, 3)) == [utc(2024, 1, 1, 0, 10), utc(2024, 1, 1, 0, 20)]
    assert take("every 90s", 2) == [utc(2024, 1, 1, 0, 1, 30), utc(2024, 1, 1, 0, 3)]
    assert take("every 1h30m", 2) == [utc(2024, 1, 1, 1, 30), utc(2024, 1, 1, 3)]
    assert take("every 2d", 2) == [utc(2024, 1, 2), utc(2024, 1, 4)]  # 19724 days since 1970 is even
    berlin = parse_schedule("every 10m", "Europe/Berlin")
    assert berlin.next_fire(utc(2024, 3, 31, 0, 55)) == utc(2024, 3, 31, 1, 0)
    assert parse_schedule("every 10m").kind == "interval"


def test_manual_and_reboot_schedules_never_fire_by_time():
    for expr in (None, "", "none", "@none", "manual", " Manual "):
        schedule = parse_schedule(expr)
        assert schedule.kind == "none"
        assert schedule.next_fire(NOW) is None and schedule.prev_fire(NOW) is None
        assert list(schedule.fires(NOW, utc(2025, 1, 1))) == []
    assert parse_schedule("@reboot").kind == "reboot"
    assert parse_schedule("@reboot").next_fire(NOW) is None


def test_fires_include_both_ends_of_the_range():
    schedule = parse_schedule("0 */6 * * *")
    assert list(schedule.fires(utc(2024, 1, 1, 6), utc(2024, 1, 2))) == [
        utc(2024, 1, 1, 6),
        utc(2024, 1, 1, 12),
        utc(2024, 1, 1, 18),
        utc(2024, 1, 2),
    ]
    assert list(schedule.fires(utc(2024, 1, 1, 6, 1), utc(2024, 1, 1, 11, 59))) == []


def test_prev_fire_is_the_last_fire_strictly_before():
    daily = parse_schedule("30 2 * * *")
    assert daily.prev_fire(utc(2024, 1, 10, 2, 30)) == utc(2024, 1, 9, 2, 30)
    assert daily.prev_fire(utc(2024, 1, 10, 2, 30, 0, 1)) == utc(2024, 1, 10, 2, 30)
    assert parse_schedule("0 0 29 2 *").prev_fire(NOW) == utc(2020, 2, 29)
    assert parse_schedule("every 10m").prev_fire(utc(2024, 1, 1, 0, 10)) == utc(2024, 1, 1, 0, 0)
    assert parse_schedule("every 10m").prev_fire(utc(2024, 1, 1, 0, 11)) == utc(2024, 1, 1, 0, 10)


def test_instants_in_other_zones_are_accepted_and_results_are_utc():
    after = datetime(2024, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 00:00 UTC
    fire = parse_schedule("@hourly").next_fire(after)
    assert fire == utc(2024, 1, 1, 1) and fire.tzinfo is UTC


def test_naive_instants_are_refused():
    with pytest.raises(ValueError, match="no time zone"):
        parse_schedule("@daily").next_fire(datetime(2024, 1, 1))


def test_describe_gives_short_text_for_lists():
    assert parse_schedule("30 2 * * *", "Europe/Berlin").describe() == "at 02:30 daily (Europe/Berlin)"
    assert parse_schedule("0 9 * * mon-fri").describe() == "at 09:00 on mon-fri"
    assert parse_schedule("*/5 * * * *").describe() == "*/5 * * * *"
    assert parse_schedule("every 10m").describe() == "every 10m"
    assert parse_schedule(None).describe() == "manual only"


# --- errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr, words",
    [
        ("61 * * * *", "minute field: 61 is out of range 0-59"),
        ("* * *", "has 3 field(s); cron needs 5"),
        ("@dayly", "did you mean '@daily'?"),
        ("daily", "did you mean '@daily'?"),
        ("every 5 minutes", "write 'every 5m'"),
        ("every 0m", "is zero"),
        ("5/10 * * * *", "write '5-59/10'"),
        ("0 0 * * fri-mon", "runs backwards"),
        ("0 0 * * mom", "did you mean 'mon'?"),
        ("0 0 * * 8", "Sunday is 0 or 7"),
        ("*/0 * * * *", "step 0"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 L * *", "'l' is not a number"),
    ],
)
def test_bad_expressions_say_what_is_wrong_and_how_to_fix_it(expr, words):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expr)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unknown_timezone_suggests_the_closest_name():
    message = r"unknown timezone 'Europe/Berln' \(did you mean 'Europe/Berlin'\?\)"
    with pytest.raises(ScheduleError, match=message):
        parse_schedule("@daily", "Europe/Berln")
    with pytest.raises(ScheduleError, match="did you mean 'UTC'"):
        parse_schedule("@daily", "utc")


# --- DST ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone, night, fire",
    [
        ("America/New_York", utc(2024, 3, 10), utc(2024, 3, 10, 7, 0)),  # 02:30 skipped: 03:00 EDT
        ("America/New_York", utc(2024, 11, 3), utc(2024, 11, 3, 7, 30)),  # 02:30 EST, after the repeat
        ("Europe/Berlin", utc(2024, 3, 31), utc(2024, 3, 31, 1, 0)),  # 02:30 skipped: 03:00 CEST
        ("Europe/Berlin", utc(2024, 10, 27), utc(2024, 10, 27, 0, 30)),  # 02:30 repeated: first, CEST
    ],
)
def test_a_daily_0230_job_fires_once_on_both_dst_nights(zone, night, fire):
    schedule = parse_schedule("30 2 * * *", zone)
    assert list(schedule.fires(night - timedelta(hours=6), night + timedelta(hours=18))) == [fire]


def test_a_0130_job_in_new_york_fires_once_on_the_fall_back_night():
    schedule = parse_schedule("30 1 * * *", "America/New_York")
    assert list(schedule.fires(utc(2024, 11, 3), utc(2024, 11, 4))) == [utc(2024, 11, 3, 5, 30)]
    assert schedule.next_fire(utc(2024, 11, 3, 5, 30)) == utc(2024, 11, 4, 6, 30)
    assert schedule.prev_fire(utc(2024, 11, 4, 6, 30)) == utc(2024, 11, 3, 5, 30)


def test_skipped_times_of_a_fixed_job_fire_once_after_the_gap():
    schedule = parse_schedule("0,30 2,3 * * *", "America/New_York")
    assert list(schedule.fires(utc(2024, 3, 10), utc(2024, 3, 11))) == [utc(2024, 3, 10, 7, 0), utc(2024, 3, 10, 7, 30)]


@pytest.mark.parametrize(
    "zone, start",
    [
        ("America/New_York", utc(2024, 3, 10, 4)),
        ("America/New_York", utc(2024, 11, 3, 3)),
        ("Europe/Berlin", utc(2024, 3, 30, 23)),
        ("Europe/Berlin", utc(2024, 10, 26, 22)),
    ],
)
@pytest.mark.parametrize("expr, every", [("*/30 * * * *", timedelta(minutes=30)), ("0 * * * *", timedelta(hours=1))])
def test_wildcard_hour_jobs_keep_firing_by_real_time_through_dst(zone, start, expr, every):
    fires = list(parse_schedule(expr, zone).fires(start, start + timedelta(hours=6)))
    assert fires == [start + i * every for i in range(len(fires))]
    assert len(fires) == timedelta(hours=6) // every + 1


def cron_loop(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Replay cronie's minute loop (cron.c) over [start, end]: the UTC minutes it runs `expr` at.

    Each real minute cron reads the wall clock. One minute on: run what matches.
    A jump forward: run wildcard jobs matching now, and fixed-time jobs matching any
    skipped minute. A jump back: run wildcard jobs only, until the clock catches up.
    """
    tz, fields = ZoneInfo(zone), expr.split()
    wildcard = fields[0].startswith("*") or fields[1].startswith("*")
    wall = lambda u: u.astimezone(tz).replace(tzinfo=None)  # noqa: E731
    matches, it = set(), croniter(expr, wall(start) - timedelta(hours=4), implement_cron_bug=True)
    while (m := it.get_next(datetime)) <= wall(end) + timedelta(hours=4):
        matches.add(m)
    runs, virtual, u = [], wall(start - timedelta(minutes=1)), start
    while u <= end:
        now, diff = wall(u), (wall(u) - virtual) // timedelta(minutes=1)
        if diff == 1:
            run, virtual = now in matches, now
        elif diff > 5:
            skipped = {virtual + timedelta(minutes=i) for i in range(1, diff + 1)}
            run = (wildcard and now in matches) or (not wildcard and bool(skipped & matches))
            virtual = now
        else:
            run = wildcard and now in matches
        if run:
            runs.append(u)
        u += timedelta(minutes=1)
    return runs


DST_NIGHTS = [
    ("America/New_York", utc(2024, 3, 9, 12)),
    ("America/New_York", utc(2024, 11, 2, 12)),
    ("Europe/Berlin", utc(2024, 3, 30, 12)),
    ("Europe/Berlin", utc(2024, 10, 26, 12)),
    # Lord Howe Island shifts by 30 minutes.
    ("Australia/Lord_Howe", utc(2024, 4, 6, 6)),
    ("Australia/Lord_Howe", utc(2024, 10, 5, 6)),
]
DST_EXPRS = [
    "30 2 * * *",
    "30 1 * * *",
    "0,30 2,3 * * *",
    "15 1-3 * * *",
    "*/30 * * * *",
    "0 * * * *",
    "*/15 2 * * *",
    "* 1 * * *",
    "0 */2 * * *",
    "45 */3 * * *",
    "@daily",
]


@pytest.mark.parametrize("zone, start", DST_NIGHTS)
def test_fires_match_a_replay_of_cronies_clock_loop_across_dst(zone, start):
    end = start + timedelta(hours=36)
    for expr in DST_EXPRS:
        cron_expr = "0 0 * * *" if expr == "@daily" else expr
        schedule = parse_schedule(expr, zone)
        fires = list(schedule.fires(start, end))
        assert fires == cron_loop(cron_expr, zone, start, end), expr
        # next_fire and prev_fire agree with that list from any instant, either fold.
        for probe in (start + timedelta(minutes=m, seconds=s) for m in range(0, 36 * 60, 7) for s in (0, 20)):
            i = bisect_right(fires, probe)
            if i < len(fires):
                assert schedule.next_fire(probe) == fires[i], (expr, probe)
            j = bisect_left(fires, probe)
            if j > 0:
                assert schedule.prev_fire(probe) == fires[j - 1], (expr, probe)


# --- logical dates ---------------------------------------------------------------


def test_run_dates_by_default_take_the_fire_as_logical_date():
    dates = run_dates(parse_schedule("@daily"), utc(2024, 1, 2))
    assert dates == RunDates(utc(2024, 1, 2), utc(2024, 1, 1), utc(2024, 1, 2))


def test_run_dates_with_interval_semantics_take_the_interval_start():
    dates = run_dates(parse_schedule("@daily"), utc(2024, 1, 2), interval_semantics=True)
    assert dates == RunDates(utc(2024, 1, 1), utc(2024, 1, 1), utc(2024, 1, 2))


def test_run_dates_of_a_manual_run_are_the_given_instant():
    moment = utc(2024, 5, 5, 13, 7, 9)
    assert run_dates(parse_schedule(None), moment) == RunDates(moment, moment, moment)


def test_logical_dates_in_a_range_by_default_are_the_fires():
    dates = logical_dates_in(parse_schedule("@daily"), utc(2024, 1, 1), utc(2024, 1, 3))
    assert dates == [
        RunDates(utc(2024, 1, 1), utc(2023, 12, 31), utc(2024, 1, 1)),
        RunDates(utc(2024, 1, 2), utc(2024, 1, 1), utc(2024, 1, 2)),
        RunDates(utc(2024, 1, 3), utc(2024, 1, 2), utc(2024, 1, 3)),
    ]


def test_logical_dates_in_a_range_with_interval_semantics_are_interval_starts():
    dates = logical_dates_in(parse_schedule("every 1h"), utc(2024, 1, 1), utc(2024, 1, 1, 2), interval_semantics=True)
    hours = [utc(2024, 1, 1, h) for h in range(4)]
    assert dates == [RunDates(hours[h], hours[h], hours[h + 1]) for h in range(3)]


def test_logical_dates_follow_the_local_calendar_across_dst():
    dates = logical_dates_in(parse_schedule("@daily", "Europe/Berlin"), utc(2024, 3, 30), utc(2024, 4, 1))
    assert [d.logical_date for d in dates] == [utc(2024, 3, 30, 23), utc(2024, 3, 31, 22)]
    assert dates[1].data_interval_start == utc(2024, 3, 30, 23)


def test_backfill_needs_a_schedule_and_an_ordered_range():
    with pytest.raises(ScheduleError, match="no logical dates"):
        logical_dates_in(parse_schedule("manual"), utc(2024, 1, 1), utc(2024, 1, 2))
    with pytest.raises(ScheduleError, match="swap the start and end"):
        logical_dates_in(parse_schedule("@daily"), utc(2024, 1, 2), utc(2024, 1, 1))
