"""Schedules: when a DAG fires, and which logical dates its runs get.

Pure functions of the instants passed in; nothing here reads the clock. Instants
in may be in any time zone and must be aware; instants out are in UTC. A
`Schedule` is immutable after `parse_schedule`, so one may be shared by threads.

Kinds of schedule (`Schedule.kind`):

* ``cron``: 5 fields (minute hour day-of-month month day-of-week), or 6 with
  *seconds first*; or a preset (``@hourly`` = ``0 * * * *`` and so on).
  Matching follows Vixie cron / cronie exactly: names (``jan``, ``mon``) in any
  case, ``0`` and ``7`` are Sunday, ``a-b`` must not run backwards, a step needs
  ``*`` or a range (``*/5``, ``10-50/20``; ``5/10`` is refused), and the day rule:
  if the day-of-month or the day-of-week field *starts* with ``*`` a day must
  match both fields, otherwise either one (``0 0 1,15 * mon`` fires on the 1st,
  the 15th and every Monday; ``0 0 */2 * mon`` only on Mondays with an odd date).
* ``interval``: ``every 10m``, ``every 1h30m`` (units s, m, h, d). Fires at
  whole multiples of the interval since 1970-01-01 00:00 UTC, in any time zone:
  ``every 10m`` fires at :00, :10, ...; ``every 2d`` at 00:00 UTC of even days.
* ``reboot``: ``@reboot`` fires once per scheduler start; the scheduler does
  that, so `next_fire` is None.
* ``none``: None, ``""``, ``none``, ``@none``, ``manual``: manual runs only.

Time zones and DST (the rule of cronie's clock loop, written per instant). A cron
expression is matched against the wall clock of the schedule's IANA zone. A job
is *wildcard* if its minute or hour field starts with ``*`` (``*/15 * * * *``,
``0 * * * *``, ``* 2 * * *``, ``@hourly``), else *fixed-time* (``30 2 * * *``,
``0 1-5 * * *``, ``@daily``). The seconds field plays no part in that choice.

* A wall time that happens once fires at that instant.
* A wall time skipped by a spring-forward gap: a fixed-time job fires once at
  the first instant after the gap (02:30 on a 02:00->03:00 night fires at 03:00,
  and 02:00, 02:30 and 03:00 together fire once); a wildcard job does not fire
  for it: it keeps its pace in real time (``0 * * * *`` fires 01:00, 03:00).
* A wall time repeated by a fall-back: a fixed-time job fires at its first
  occurrence only; a wildcard job fires at both (``*/30 * * * *`` keeps firing
  every 30 real minutes, ``30 1 * * *`` fires once).
"""

from __future__ import annotations

import calendar
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from minorch.durations import MAX_DURATION
from minorch.errors import ScheduleError, did_you_mean

__all__ = ["RunDates", "Schedule", "dates_for_logical", "logical_dates_in", "parse_schedule", "run_dates"]

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_HOUR = timedelta(hours=1)
_MICRO = timedelta(microseconds=1)

PRESETS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
NONE_WORDS = ("", "none", "@none", "manual")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# name, lowest, highest, names (value of names[i] is lowest + i)
_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_PART = re.compile(r"(?:(?P<star>\*)|(?P<a>[0-9a-z]+)(?:-(?P<b>[0-9a-z]+))?)(?:/(?P<step>\d+))?")
_INTERVAL = r"every\s+((?:\d+\s*[smhd]\s*)+)"  # compiled (and cached) by `re` at the first "every ..." schedule
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_UNIT_WORDS = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hr": "h", "hour": "h", "day": "d"}


class RunDates(NamedTuple):
    """The dates of one run, all aware UTC datetimes."""

    logical_date: datetime
    data_interval_start: datetime
    data_interval_end: datetime


class _Cron:
    """A parsed cron expression, matched against naive wall-clock times (no zone)."""

    def __init__(self, fields: list[str], expr: str) -> None:
        self.step = _SECOND if len(fields) == 6 else _MINUTE
        if len(fields) == 5:
            fields = ["0", *fields]
        values = [_parse_field(text, *spec, expr) for text, spec in zip(fields, _FIELDS, strict=False)]
        self.texts = fields
        self.seconds, self.minutes, self.hours, doms, self.months, dows = values
        self.doms, self.month_set = frozenset(doms), frozenset(self.months)
        self.dows = frozenset(d % 7 for d in dows)  # 7 is Sunday too
        self.day_and = fields[3].startswith("*") or fields[5].startswith("*")
        self.wildcard = fields[1].startswith("*") or fields[2].startswith("*")
        if self.day_and and not any(d <= _MAX_DAYS[m - 1] for m in self.months for d in doms):
            raise ScheduleError(
                f"schedule '{expr}' never fires: none of its months has day {fields[3]}",
                hint="check the day-of-month and month fields",
            )

    def day_ok(self, t: datetime) -> bool:
        dom_ok = t.day in self.doms
        dow_ok = (t.weekday() + 1) % 7 in self.dows
        return (dom_ok and dow_ok) if self.day_and else (dom_ok or dow_ok)

    def next_match(self, t: datetime) -> datetime | None:
        """The first matching wall time >= `t` (whole seconds), None past year 9998."""
        while t.year < 9999:
            if t.month not in self.month_set:
                i = bisect_left(self.months, t.month)
                t = (
                    datetime(t.year, self.months[i], 1)
                    if i < len(self.months)
                    else datetime(t.year + 1, self.months[0], 1)
                )
                continue
            midnight = datetime(t.year, t.month, t.day)
            if not self.day_ok(t) or (h := _ceil(self.hours, t.hour)) is None:
                t = midnight + _DAY
                continue
            if h != t.hour:
                t = t.replace(hour=h, minute=0, second=0)
            if (m := _ceil(self.minutes, t.minute)) is None:
                t = t.replace(minute=0, second=0) + _HOUR
                continue
            if m != t.minute:
                t = t.replace(minute=m, second=0)
            if (s := _ceil(self.seconds, t.second)) is None:
                t = t.replace(second=0) + _MINUTE
                continue
            return t.replace(second=s)
        return None

    def prev_match(self, t: datetime) -> datetime | None:
        """The last matching wall time <= `t` (whole seconds), None before year 2."""
        while t.year > 1:
            if t.month not in self.month_set:
                i = bisect_left(self.months, t.month) - 1
                year, month = (t.year, self.months[i]) if i >= 0 else (t.year - 1, self.months[-1])
                t = datetime(year, month, calendar.monthrange(year, month)[1], 23, 59, 59)
                continue
            midnight = datetime(t.year, t.month, t.day)
            if not self.day_ok(t) or (h := _floor(self.hours, t.hour)) is None:
                t = midnight - _SECOND
                continue
            if h != t.hour:
                t = t.replace(hour=h, minute=59, second=59)
            if (m := _floor(self.minutes, t.minute)) is None:
                t = t.replace(minute=0, second=0) - _SECOND
                continue
            if m != t.minute:
                t = t.replace(minute=m, second=59)
            if (s := _floor(self.seconds, t.second)) is None:
                t = t.replace(second=0) - _SECOND
                continue
            return t.replace(second=s)
        return None

    def describe(self) -> str | None:
        """'at 02:30 daily' and the like for plain daily/weekly/monthly lines, else None."""
        sec, minute, hour, dom, month, dow = self.texts
        if not (sec == "0" and minute.isdigit() and hour.isdigit() and month == "*"):
            return None
        at = f"at {int(hour):02d}:{int(minute):02d}"
        if dom == "*":
            return f"{at} daily" if dow == "*" else f"{at} on {dow}"
        return f"{at} on day {dom} of the month" if dow == "*" else None


class Schedule:
    """When a DAG fires. Build with `parse_schedule`; see the module doc for the rules."""

    def __init__(
        self, expr: str, timezone: str, kind: str, *, cron: _Cron | None = None, every: timedelta | None = None
    ) -> None:
        self.expr, self.timezone, self.kind = expr, timezone, kind
        self._tz = ZoneInfo(timezone)
        self._cron, self._every = cron, every

    def __repr__(self) -> str:
        return f"Schedule({self.expr!r}, timezone={self.timezone!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and (self.kind, self.expr, self.timezone) == (
            other.kind,
            other.expr,
            other.timezone,
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.expr, self.timezone))

    def next_fire(self, after: datetime) -> datetime | None:
        """The first fire strictly after `after`, in UTC; None for kinds none and reboot, and
        when the next fire would be past the end of the calendar (year 9999).

        Walks matching wall times forward from `after`'s wall time and maps each to
        its instants; about 10 us per call for common expressions, no re-parsing.
        """
        try:
            return self._next_fire(_as_utc(after))
        except OverflowError:
            return None

    def _next_fire(self, after: datetime) -> datetime | None:
        if self._every is not None:
            return EPOCH + ((after - EPOCH) // self._every + 1) * self._every
        if self._cron is None:
            return None
        cron, local = self._cron, after.astimezone(self._tz)
        wall, best = local.replace(tzinfo=None, fold=0), None
        second_offset = _offset(local.replace(fold=1))
        repeat = _offset(local) - second_offset
        if cron.wildcard and local.fold == 0 and repeat > timedelta(0):
            # `after` is in the first pass of a repeated hour: second-pass fires of wall
            # times at or before `wall` still lie ahead of `after`.
            shift = self._transition(after, after + repeat)
            first = cron.next_match((shift + second_offset).replace(tzinfo=None))
            if first is not None and first <= wall:
                best = (first - second_offset).replace(tzinfo=UTC)
        t = cron.next_match(_truncate(wall, cron.step) + cron.step)
        while t is not None:
            for fire in self._instants(t):
                if fire > after:
                    return fire if best is None else min(fire, best)
            t = cron.next_match(t + cron.step)
        return best

    def prev_fire(self, before: datetime) -> datetime | None:
        """The last fire strictly before `before`, in UTC; None for kinds none and reboot, and
        when it would be before the start of the calendar (year 1)."""
        try:
            return self._prev_fire(_as_utc(before))
        except OverflowError:
            return None

    def _prev_fire(self, before: datetime) -> datetime | None:
        if self._every is not None:
            steps, rest = divmod(before - EPOCH, self._every)
            return EPOCH + (steps if rest else steps - 1) * self._every
        if self._cron is None:
            return None
        cron, local = self._cron, before.astimezone(self._tz)
        wall, best = local.replace(tzinfo=None, fold=0), None
        first_offset = _offset(local.replace(fold=0))
        repeat = first_offset - _offset(local)
        if local.fold == 1 and repeat > timedelta(0):
            # `before` is in the second pass of a repeated hour: first-pass fires of wall
            # times at or after `wall` already happened.
            shift = self._transition(before - repeat, before)
            last = cron.prev_match((shift + first_offset).replace(tzinfo=None) - cron.step)
            if last is not None and last >= wall:
                best = (last - first_offset).replace(tzinfo=UTC)
        start = _truncate(wall, cron.step)
        t = cron.prev_match(start - cron.step if start == wall else start)
        while t is not None:
            for fire in reversed(self._instants(t)):
                if fire < before:
                    return fire if best is None else max(fire, best)
            t = cron.prev_match(t - cron.step)
        return best

    def fires(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Every fire `t` with start <= t <= end, in order, in UTC."""
        end = _as_utc(end)
        t = self.next_fire(_as_utc(start) - _MICRO)
        while t is not None and t <= end:
            yield t
            t = self.next_fire(t)

    def describe(self) -> str:
        """Short text for lists: 'at 02:30 daily (Europe/Berlin)', 'every 10m', 'manual only'."""
        if self.kind == "none":
            return "manual only"
        if self.kind == "reboot":
            return "at scheduler start"
        if self.kind == "interval":
            return self.expr
        assert self._cron is not None  # every other kind returned above
        text = self._cron.describe() or self.expr
        return text if self.timezone == "UTC" else f"{text} ({self.timezone})"

    def _instants(self, wall: datetime) -> tuple[datetime, ...]:
        """The UTC instants at which the matching wall time `wall` fires (module rule)."""
        assert self._cron is not None  # only cron schedules have wall times
        first = wall.replace(tzinfo=self._tz, fold=0)
        early, late = _offset(first), _offset(first.replace(fold=1))
        if early == late:
            return ((wall - early).replace(tzinfo=UTC),)
        if early > late:  # repeated wall time: first pass at early offset
            once = (wall - early).replace(tzinfo=UTC)
            return (once, (wall - late).replace(tzinfo=UTC)) if self._cron.wildcard else (once,)
        if self._cron.wildcard:  # skipped wall time
            return ()
        return (self._transition((wall - late).replace(tzinfo=UTC), (wall - early).replace(tzinfo=UTC)),)

    def _transition(self, lo: datetime, hi: datetime) -> datetime:
        """The first instant in (lo, hi] with hi's UTC offset, to the second (lo's differs)."""
        target = hi.astimezone(self._tz).utcoffset()
        a, b = int(lo.timestamp()), int(hi.timestamp())
        while b - a > 1:
            mid = (a + b) // 2
            if datetime.fromtimestamp(mid, self._tz).utcoffset() == target:
                b = mid
            else:
                a = mid
        return datetime.fromtimestamp(b, UTC)


def parse_schedule(expr: str | None, timezone: str = "UTC") -> Schedule:
    """Parse a schedule expression for an IANA time zone; ScheduleError if either is wrong."""
    check_timezone(timezone)
    if expr is not None and not isinstance(expr, str):
        raise ScheduleError(f"schedule must be text, not {expr!r}")
    text = " ".join((expr or "").split())
    word = text.lower()
    if word in NONE_WORDS:
        return Schedule(text or "none", timezone, "none")
    if word == "@reboot":
        return Schedule(text, timezone, "reboot")
    if word.startswith("every"):
        return Schedule(text, timezone, "interval", every=_parse_interval(text))
    if word.startswith("@"):
        if word not in PRESETS:
            raise ScheduleError(
                f"unknown schedule preset '{text}'",
                hint=did_you_mean(word, [*PRESETS, "@reboot", "@none"])
                or f"use one of {', '.join(PRESETS)}, @reboot or @none",
            )
        return Schedule(text, timezone, "cron", cron=_Cron(PRESETS[word].split(), text))
    fields = word.split()
    if len(fields) not in (5, 6):
        hint = did_you_mean("@" + word, PRESETS) if len(fields) == 1 else None
        raise ScheduleError(
            f"schedule '{text}' has {len(fields)} field(s); cron needs 5 (minute hour "
            "day-of-month month day-of-week) or 6 (seconds first)",
            hint=hint or "e.g. '30 2 * * *' fires at 02:30 daily; 'every 10m' and '@daily' work too",
        )
    return Schedule(text, timezone, "cron", cron=_Cron(fields, text))


def run_dates(schedule: Schedule, fire: datetime, interval_semantics: bool = False, point: bool = False) -> RunDates:
    """The dates of the run that fires at `fire` (normally a fire of `schedule`).

    Default (`data_interval = "previous_fire"`): logical_date = fire, data interval =
    [previous fire, fire]. Point (`data_interval = "point"`, Airflow 3's CronTriggerTimetable):
    all three are `fire`. Interval semantics: the run covers [previous fire, fire) and its
    logical_date is the previous fire. Kinds none and reboot: all three are `fire`.
    """
    fire = _as_utc(fire)
    if point or schedule.kind in ("none", "reboot"):
        return RunDates(fire, fire, fire)
    start = schedule.prev_fire(fire) or fire
    return RunDates(start if interval_semantics else fire, start, fire)


def dates_for_logical(
    schedule: Schedule | None, logical: datetime, interval_semantics: bool = False, point: bool = False
) -> RunDates:
    """The dates of a run asked for by logical date (trigger --date, backfill, a manual run).

    Default: [previous fire, logical date]; interval semantics: [logical date, next fire];
    point, or a DAG without a schedule: all three are the logical date.
    """
    logical = _as_utc(logical)
    if point or schedule is None or schedule.kind in ("none", "reboot"):
        return RunDates(logical, logical, logical)
    if interval_semantics:
        return RunDates(logical, logical, schedule.next_fire(logical) or logical)
    return RunDates(logical, schedule.prev_fire(logical) or logical, logical)


def logical_dates_in(
    schedule: Schedule, start: datetime, end: datetime, interval_semantics: bool = False, point: bool = False
) -> list[RunDates]:
    """For a backfill: one RunDates per logical date in [start, end], in order.

    Interval semantics: the logical dates are the fires in [start, end] and each
    run's interval ends at the fire after it (which may lie after `end`). Point: each
    run's interval is its logical date.
    """
    start, end = _as_utc(start), _as_utc(end)
    if schedule.kind in ("none", "reboot"):
        raise ScheduleError(
            f"schedule '{schedule.expr}' has no logical dates to backfill",
            hint="give the DAG a cron or interval schedule, or trigger runs by hand",
        )
    if start > end:
        raise ScheduleError(
            f"backfill range starts ({start:%Y-%m-%d %H:%M}) after it ends ({end:%Y-%m-%d %H:%M})",
            hint="swap the start and end dates",
        )
    fires = list(schedule.fires(start, end))
    if point:
        return [RunDates(f, f, f) for f in fires]
    if interval_semantics:
        if not fires:
            return []
        after = schedule.next_fire(fires[-1])
        assert after is not None  # a schedule that fired fires again
        return [RunDates(f, f, e) for f, e in zip(fires, [*fires[1:], after], strict=True)]
    starts = [schedule.prev_fire(fires[0]) or fires[0], *fires[:-1]] if fires else []
    return [RunDates(f, s, f) for s, f in zip(starts, fires, strict=False)]


def _offset(moment: datetime) -> timedelta:
    """The UTC offset of an aware datetime (`utcoffset()` is None only for naive ones)."""
    offset = moment.utcoffset()
    assert offset is not None, moment
    return offset


def _parse_field(text: str, name: str, low: int, high: int, names: tuple[str, ...], expr: str) -> list[int]:
    """The sorted values one cron field selects, as cronie reads them."""

    def fail(problem: str, hint: str | None = None) -> ScheduleError:
        return ScheduleError(f"schedule '{expr}': {name} field: {problem}", hint=hint)

    def value(token: str) -> int:
        if token.isdigit():
            number = int(token)
            if not low <= number <= high:
                hint = "Sunday is 0 or 7" if name == "day-of-week" else None
                raise fail(f"{number} is out of range {low}-{high}", hint)
            return number
        if token in names:
            return low + names.index(token)
        raise fail(
            f"'{token}' is not a number" + (" or a name" if names else ""),
            did_you_mean(token, names) if names else None,
        )

    selected: set[int] = set()
    for part in text.split(","):
        match = _PART.fullmatch(part)
        if match is None:
            raise fail(f"cannot read '{part}'", "write numbers, ranges a-b, steps */n or a-b/n, and lists a,b")
        step = int(match["step"] or 1)
        if step == 0:
            raise fail(f"step 0 in '{part}'", "a step must be 1 or more")
        if match["star"]:
            first, last = low, high
        elif match["b"] is None and match["step"]:
            raise fail(f"'{part}' has a step but no range", f"write '{match['a']}-{high}/{step}'")
        else:
            first = value(match["a"])
            last = value(match["b"]) if match["b"] else first
            if first > last:
                hint = "use 7 for Sunday at the end of a range" if name == "day-of-week" else None
                raise fail(f"range '{part}' runs backwards", hint or f"write '{match['b']}-{match['a']}'")
        selected.update(range(first, last + 1, step))
    return sorted(selected)


def _parse_interval(text: str) -> timedelta:
    match = re.fullmatch(_INTERVAL, text.lower())
    if match is None:
        hint = "write a number and a unit s, m, h or d, e.g. 'every 10m' or 'every 1h30m'"
        words = re.fullmatch(r"every\s+(\d+)\s*([a-z]+)", text.lower())
        if words and words[2].rstrip("s") in _UNIT_WORDS:
            hint = f"write 'every {words[1]}{_UNIT_WORDS[words[2].rstrip('s')]}'"
        raise ScheduleError(f"cannot read interval '{text}'", hint=hint)
    seconds = sum(int(n) * _UNITS[unit] for n, unit in re.findall(r"(\d+)\s*([smhd])", match[1]))
    if seconds == 0:
        raise ScheduleError(f"interval '{text}' is zero", hint="use at least 'every 1s'")
    if seconds > MAX_DURATION:
        raise ScheduleError(f"interval '{text}' is longer than 100 years", hint="use e.g. 'every 365d' or '@yearly'")
    return timedelta(seconds=seconds)


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        known = available_timezones()
        same = [zone for zone in known if zone.lower() == str(name).lower()]
        hint = f"did you mean '{same[0]}'?" if same else did_you_mean(str(name), known)
        raise ScheduleError(
            f"unknown timezone '{name}'", hint=hint or "use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ) from None
    return name


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; schedules work with aware datetimes")
    return moment.astimezone(UTC)


def _truncate(wall: datetime, step: timedelta) -> datetime:
    wall = wall.replace(microsecond=0)
    return wall.replace(second=0) if step == _MINUTE else wall


def _ceil(values: list[int], x: int) -> int | None:
    i = bisect_left(values, x)
    return values[i] if i < len(values) else None


def _floor(values: list[int], x: int) -> int | None:
    i = bisect_right(values, x) - 1
    return values[i] if i >= 0 else None
