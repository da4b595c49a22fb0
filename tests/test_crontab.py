"""Crontab import: real crontab files in, minorch DAG TOML out, nothing lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from minorch.crontab import host_timezone, is_system_crontab, parse_crontab, split_percent
from minorch.crontab_output import task_command, to_python, to_toml
from minorch.errors import ConfigError
from minorch.schedule import parse_schedule
from minorch.spec import build_dag

DATA = Path(__file__).parent / "data" / "crontabs"
UTC = timezone.utc
WEEK_START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, far from any DST change
WEEK_END = datetime(2026, 1, 11, 23, 59, tzinfo=UTC)
SYSTEM_FILES = [
    "debian-crontab",
    "cron.d-e2scrub_all",
    "cron.d-php",
    "cron.d-sysstat",
    "cron.d-certbot",
    "cron.d-mdadm",
    "cron.d-nextcloud",
]
USER_FILES = ["user-alice", "user-mistakes"]


def load(name: str, **options):
    system = name in SYSTEM_FILES
    return parse_crontab((DATA / name).read_bytes(), source=f"/etc/cron.d/{name}", system=system, **options)


def by_line(converted):
    return {e.line: e for e in converted.entries}


# ---------------------------------------------------------------- an independent cron matcher

NAMES = {
    n: i
    for i, n in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], start=1)
}
NAMES.update({n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])})


def expand(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.lower().split(","):
        body, _, step = part.partition("/")
        if body == "*":
            a, b = low, high
        else:
            a_text, _, b_text = body.partition("-")
            a = NAMES[a_text] if a_text in NAMES else int(a_text)
            b = (NAMES[b_text] if b_text in NAMES else int(b_text)) if b_text else a
        values.update(range(a, b + 1, int(step or 1)))
    return values


def matches(expr: str, t: datetime) -> bool:
    """Vixie cron's rule, written out plainly: day-of-month OR day-of-week unless either starts with '*'."""
    minute, hour, dom, month, dow = expr.split()
    days = {d % 7 for d in expand(dow, 0, 7)}
    dom_ok, dow_ok = t.day in expand(dom, 1, 31), (t.isoweekday() % 7) in days
    day_ok = dom_ok and dow_ok if dom.startswith("*") or dow.startswith("*") else dom_ok or dow_ok
    return (
        t.minute in expand(minute, 0, 59)
        and t.hour in expand(hour, 0, 23)
        and t.month in expand(month, 1, 12)
        and day_ok
    )


def brute_force_fires(expr: str, zone: str) -> list[datetime]:
    t, out = WEEK_START, []
    while t <= WEEK_END:
        if matches(expr, t.astimezone(ZoneInfo(zone))):
            out.append(t)
        t += timedelta(minutes=1)
    return out


def fires_in_week(entry) -> list[datetime]:
    return list(parse_schedule(entry.schedule, entry.timezone or "UTC").fires(WEEK_START, WEEK_END))


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    "name, line",
    [
        ("debian-crontab", 19),
        ("debian-crontab", 21),
        ("cron.d-sysstat", 6),
        ("cron.d-php", 14),
        ("cron.d-certbot", 17),
        ("user-alice", 11),
        ("user-alice", 14),
        ("user-alice", 15),
        ("user-alice", 18),
    ],
)
def test_fire_times_over_a_week_equal_a_brute_force_walk_over_every_minute(name, line):
    entry = by_line(load(name))[line]
    assert fires_in_week(entry) == brute_force_fires(entry.schedule, entry.timezone or "UTC")


def test_well_known_entries_fire_when_the_package_authors_meant():
    debian = by_line(load("debian-crontab"))
    assert len(fires_in_week(debian[19])) == 7 * 24  # 17 * * * *
    assert fires_in_week(debian[21]) == [datetime(2026, 1, 11, 6, 47, tzinfo=UTC)]  # Sunday written as 7
    assert len(fires_in_week(by_line(load("cron.d-sysstat"))[6])) == 7 * 24 * 6  # 5-55/10
    assert [t.hour for t in fires_in_week(by_line(load("cron.d-certbot"))[17])] == [0, 12] * 7
    reports = by_line(load("user-alice"))[11]  # 0 9 * * mon-fri, Berlin
    assert fires_in_week(reports) == [datetime(2026, 1, d, 8, 0, tzinfo=UTC) for d in range(5, 10)]


def test_day_of_month_and_day_of_week_fire_on_either_like_vixie_cron():
    entry = by_line(load("user-alice"))[26]  # 0 0 1,15 * fri, Berlin
    fires = list(
        parse_schedule(entry.schedule, entry.timezone).fires(
            datetime(2026, 1, 12, tzinfo=UTC), datetime(2026, 1, 18, tzinfo=UTC)
        )
    )
    # Thursday the 15th by its date, Friday the 16th by its weekday; midnight in Berlin is 23:00 UTC.
    assert fires == [datetime(2026, 1, 14, 23, 0, tzinfo=UTC), datetime(2026, 1, 15, 23, 0, tzinfo=UTC)]


def test_cron_tz_sets_the_timezone_and_the_host_zone_fills_in_without_it():
    alice = by_line(load("user-alice", timezone="Asia/Tokyo"))
    assert alice[8].timezone == "Europe/Berlin"
    assert by_line(load("cron.d-php", timezone="Asia/Tokyo"))[14].timezone == "Asia/Tokyo"
    assert by_line(load("cron.d-php"))[14].timezone is None


def test_the_host_timezone_is_read_from_the_localtime_link(tmp_path):
    (tmp_path / "zoneinfo" / "Europe").mkdir(parents=True)
    (tmp_path / "zoneinfo" / "Europe" / "Berlin").write_bytes(b"TZif")
    (tmp_path / "localtime").symlink_to(tmp_path / "zoneinfo" / "Europe" / "Berlin")
    assert host_timezone(str(tmp_path)) == "Europe/Berlin"
    (tmp_path / "localtime").unlink()
    (tmp_path / "timezone").write_text("America/New_York\n")
    assert host_timezone(str(tmp_path)) == "America/New_York"


# ---------------------------------------------------------------- lines, env, comments


def test_skipped_lines_are_reported_with_their_numbers_and_reasons():
    converted = load("user-mistakes")
    skipped = {s.line: s.reason for s in converted.skipped}
    assert sorted(skipped) == [4, 5, 6, 7, 8, 9, 11]
    assert "61" in skipped[4] and "minute" in skipped[4]
    assert "moonday" in skipped[5]
    assert "did you mean '@daily'" in skipped[6]
    assert "five time fields" in skipped[7]
    assert "quote" in skipped[8]
    assert "Europe/Berlin" in skipped[11]
    assert [e.line for e in converted.entries] == [3, 13]
    toml = to_toml(converted)
    for line in skipped:
        assert f"#   line {line}: " in toml


def test_assignments_apply_to_the_lines_below_with_quotes_and_spaces_stripped():
    alice = by_line(load("user-alice"))
    assert alice[8].env == {
        "MAILTO": "ops@example.com, alice@example.com",
        "CRON_TZ": "Europe/Berlin",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
    }
    assert alice[25].env["SHELL"] == "/bin/bash" and alice[25].shell == "/bin/bash"
    assert alice[8].mail == ["ops@example.com", "alice@example.com"]
    assert alice[22].mail == []  # MAILTO=""


def test_comment_lines_directly_above_an_entry_become_its_description():
    assert by_line(load("cron.d-sysstat"))[9].comment == "Additional run at 23:59 to rotate the statistics file"
    assert by_line(load("cron.d-php"))[14].comment == "Look for and purge old sessions every 30 minutes"
    assert by_line(load("cron.d-mdadm"))[12].comment.startswith("By default, run at 00:57 on every Sunday")
    # Debian's field diagram ends in a commented-out example entry, so it describes nothing.
    assert by_line(load("debian-crontab"))[19].comment is None
    assert by_line(load("user-alice"))[15].comment is None


@pytest.mark.parametrize(
    "raw, command, stdin",
    [
        ("echo hi", "echo hi", None),
        (r"date +\%F", "date +%F", None),
        ("mail -s hi root%line 1%line 2", "mail -s hi root", "line 1\nline 2"),
        (r"cat%100\% sure%", "cat", "100% sure\n"),
        (r"echo \\%x", "echo \\\\", "x"),
        (r"cat%a\nb", "cat", r"a\nb"),
        ("cat%", "cat", ""),
    ],
)
def test_percent_ends_the_command_and_the_rest_is_stdin_like_cronie(raw, command, stdin):
    assert split_percent(raw) == (command, stdin)


def test_a_leading_dash_which_only_turns_off_cronie_logging_is_accepted():
    entry = parse_crontab("-0 5 * * * /usr/bin/true\n").entries[0]
    assert (entry.schedule, entry.command) == ("0 5 * * *", "/usr/bin/true")


def test_system_crontabs_keep_the_user_and_are_recognised_by_path():
    assert [e.user for e in load("debian-crontab").entries] == ["root"] * 4
    nextcloud = load("cron.d-nextcloud").entries[0]
    assert nextcloud.user == "www-data" and nextcloud.command == "php -f /var/www/nextcloud/cron.php --verbose"
    assert task_command(nextcloud) == (
        "runuser -u www-data -- /bin/sh -c 'php -f /var/www/nextcloud/cron.php --verbose'"
    )
    assert task_command(load("debian-crontab").entries[0]) == "cd / && run-parts --report /etc/cron.hourly"
    assert is_system_crontab("/etc/crontab") and is_system_crontab("/etc/cron.d/php")
    assert not is_system_crontab("/var/spool/cron/crontabs/alice")


# ---------------------------------------------------------------- not a crontab


@pytest.mark.parametrize(
    "name, line",
    [
        ("not-a-crontab-backup.sh", 1),
        ("not-a-crontab-script-without-shebang.sh", 3),
        ("not-a-crontab-app.ini", 1),
        ("not-a-crontab-pyproject.toml", 5),
    ],
)
def test_scripts_and_settings_files_are_refused_as_not_a_crontab_with_the_line_that_shows_it(name, line):
    with pytest.raises(ConfigError) as caught:
        parse_crontab((DATA / name).read_text(), source=name)
    assert str(caught.value).startswith(f"{name}:{line}: not a crontab")


def test_binary_bytes_are_refused_as_not_a_crontab():
    with pytest.raises(ConfigError, match="not a crontab"):
        parse_crontab(Path(sys.executable).read_bytes()[:4096], source=sys.executable)
    with pytest.raises(ConfigError, match=r"^x:2: not a crontab: the file is not UTF-8"):
        parse_crontab(b"0 2 * * * true\n0 3 * * * echo \xff\n", source="x")


def test_an_empty_crontab_is_a_crontab_with_nothing_in_it():
    converted = parse_crontab("# nothing here\n\nMAILTO=root\n")
    assert converted.entries == [] and converted.skipped == []


# ---------------------------------------------------------------- DAG ids


def test_dag_ids_name_the_program_a_package_entry_runs():
    ids = {name: [e.dag_id for e in load(name).entries] for name in SYSTEM_FILES}
    assert ids == {
        "debian-crontab": ["cron_hourly", "cron_daily", "cron_weekly", "cron_monthly"],
        "cron.d-e2scrub_all": ["cron_e2scrub_all_cron", "cron_e2scrub_all"],
        "cron.d-php": ["cron_sessionclean"],
        "cron.d-sysstat": ["cron_debian_sa1", "cron_debian_sa1_2"],
        "cron.d-certbot": ["cron_certbot"],
        "cron.d-mdadm": ["cron_checkarray"],
        "cron.d-nextcloud": ["cron_nextcloud_cron_php"],
    }


@pytest.mark.parametrize(
    "command, dag_id",
    [
        ("/usr/local/bin/backup.sh --full", "cron_backup_sh"),
        ("/usr/sbin/logrotate /etc/logrotate.conf", "cron_logrotate"),
        ("cd /srv/app && ./manage.py clearsessions", "cron_manage_py"),
        ("flock -n /run/lock/sync.lock /usr/local/bin/sync-files", "cron_sync_files"),
        ("timeout 1h nice -n 19 ionice -c3 /usr/bin/updatedb", "cron_updatedb"),
        ("sudo -u postgres pg_dump app | gzip > /backup/app.sql.gz", "cron_pg_dump"),
        ("bash -lc 'source ~/.profile; ~/bin/report.sh'", "cron_report_sh"),
        ("python3 -m app.jobs.cleanup", "cron_app_jobs_cleanup"),
        ("/usr/bin/env LANG=C /opt/x/bin/Tool", "cron_tool"),
        ("'/opt/My Scripts/Backup Now.sh' >/dev/null 2>&1", "cron_backup_now_sh"),
        ("echo 'unbalanced", "cron_echo"),
    ],
)
def test_dag_ids_are_readable(command, dag_id):
    assert parse_crontab(f"0 1 * * * {command}\n").entries[0].dag_id == dag_id


def test_dag_ids_are_unique_lowercase_and_numbered_from_two():
    text = "0 1 * * * /a/backup.sh\n0 2 * * * /b/backup.sh\n0 3 * * * /c/backup_sh_2\n0 4 * * * /d/BACKUP.SH\n"
    ids = [e.dag_id for e in parse_crontab(text).entries]
    assert ids == ["cron_backup_sh", "cron_backup_sh_2", "cron_backup_sh_2_2", "cron_backup_sh_3"]
    for name in SYSTEM_FILES + USER_FILES:
        ids = [e.dag_id for e in load(name).entries]
        assert len(set(ids)) == len(ids) and all(re.fullmatch(r"cron_[a-z0-9_]+", i) for i in ids)


# ---------------------------------------------------------------- TOML


NASTY = (
    "\n".join(
        [
            "SHELL=/bin/bash",
            "X='a \"quoted\" value'",
            '0 1 * * * printf "\\%s\\n" \'single\' "double" \\\\backslash \'\'\'triple\'\'\' """three"""',
            "0 2 * * * echo tab\there; echo unicode é ✓ \x7f bell\x0cpage",
            '0 3 * * * cat > out.txt%it\'s 100\\% ok%"""quotes"""%\'\'\'%back\\slash',
            "0 4 * * * tr a-z A-Z | cat > out.txt%hello%",
            "0 5 * * * cat > out.txt%MINORCH_STDIN%after the mark%",
        ]
    )
    + "\n"
)


def test_commands_survive_a_round_trip_through_tomllib_byte_for_byte():
    for converted in [load(n) for n in SYSTEM_FILES + USER_FILES] + [parse_crontab(NASTY)]:
        dags = tomllib.loads(to_toml(converted))["dags"]
        assert list(dags) == [e.dag_id for e in converted.entries]
        for entry in converted.entries:
            assert dags[entry.dag_id]["tasks"]["run"]["command"] == task_command(entry)
            assert dags[entry.dag_id]["tasks"]["run"].get("env", {}) == entry.env
            if entry.stdin is None and entry.user in (None, "root"):
                assert entry.text.endswith(task_command(entry).replace("%", "\\%"))


@pytest.mark.parametrize("line", [5, 6, 7])
def test_stdin_reaches_the_command_when_the_emitted_toml_is_run_by_a_shell(tmp_path, line):
    entry = by_line(parse_crontab(NASTY))[line]
    command = tomllib.loads(to_toml(parse_crontab(NASTY)))["dags"][entry.dag_id]["tasks"]["run"]["command"]
    subprocess.run(["/bin/sh", "-c", command], cwd=tmp_path, check=True, stdin=subprocess.DEVNULL)
    expected = entry.stdin if entry.stdin.endswith("\n") else entry.stdin + "\n"  # a here-document ends with one
    expected = expected.upper() if "tr a-z" in entry.command else expected
    assert (tmp_path / "out.txt").read_text() == expected


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("runuser"), reason="runuser needs root")
def test_a_system_entry_of_another_user_runs_as_that_user(tmp_path):
    entry = parse_crontab("0 1 * * * nobody id -un%\n", system=True).entries[0]
    done = subprocess.run(["/bin/sh", "-c", task_command(entry)], capture_output=True, text=True, check=True)
    assert done.stdout == "nobody\n"


def test_the_toml_keeps_cron_promises_and_says_where_it_came_from():
    converted = load("user-alice")
    text = to_toml(converted, now=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert text.startswith("# Imported from /etc/cron.d/user-alice by minorch import-crontab on 2026-11-25.")
    dags = tomllib.loads(text)["dags"]
    backup = dags["cron_backup_sh"]
    assert backup["schedule"] == "30 2 * * *" and backup["timezone"] == "Europe/Berlin"
    assert backup["max_active_runs"] == 1 and backup["catchup"] is False and backup["source_line"] == 8
    assert backup["description"] == "nightly backup of the database"
    assert backup["on_failure"] == [{"mail": "ops@example.com"}, {"mail": "alice@example.com"}]
    assert "on_failure" not in dags["cron_date"]  # after MAILTO=""
    assert dags["cron_rm"]["tasks"]["run"]["shell"] == "/bin/bash"
    assert "shell" not in backup["tasks"]["run"]
    anacron = tomllib.loads(to_toml(converted, anacron=True))["dags"]
    assert {d["catchup"] for d in anacron.values()} == {"latest"}


def test_every_imported_dag_builds_as_a_minorch_dag():
    for name in SYSTEM_FILES + USER_FILES:
        for anacron in (False, True):
            for dag_id, spec in tomllib.loads(to_toml(load(name), anacron=anacron))["dags"].items():
                made = build_dag(dag_id, spec, file=name)
                assert list(made.tasks) == ["run"]


# ---------------------------------------------------------------- cron's edge cases


def test_tz_sets_only_the_commands_environment_and_an_empty_cron_tz_means_the_host_zone():
    converted = parse_crontab(
        "TZ=Asia/Tokyo\n0 1 * * * date\nCRON_TZ=Europe/Berlin\n0 2 * * * date\nCRON_TZ=\n0 3 * * * date\n",
        timezone="America/Chicago",
    )
    tokyo, berlin, empty = converted.entries
    assert tokyo.timezone == "America/Chicago" and tokyo.env["TZ"] == "Asia/Tokyo"
    assert berlin.timezone == "Europe/Berlin"
    assert empty.timezone == "America/Chicago"


@pytest.mark.parametrize(
    "line, reason",
    [
        ("0 8 2 * * * /usr/bin/backup", "sixth time field"),
        ("*/10 * * * * * /usr/bin/poll", "sixth time field"),
        ("@DAILY /usr/bin/backup", "case-sensitively"),
        ("@Hourly /usr/bin/backup", "case-sensitively"),
    ],
)
def test_lines_cron_itself_never_ran_are_refused(line, reason):
    converted = parse_crontab(line + "\n0 1 * * * true\n")
    assert [s.line for s in converted.skipped] == [1] and reason in converted.skipped[0].reason
    assert [e.command for e in converted.entries] == ["true"]


def test_a_six_field_system_line_is_refused_rather_than_run_as_user_star():
    converted = parse_crontab("0 8 2 * * * root /usr/bin/backup\n", system=True)
    assert not converted.entries and "sixth time field" in converted.skipped[0].reason


def test_a_leading_dash_is_noted_in_the_written_file():
    text = to_toml(parse_crontab("-0 5 * * * /usr/bin/true\n"))
    assert "# the leading '-' only turned off cronie's syslog line" in text


# ---------------------------------------------------------------- Python output and cron's promises


def python_dags(text: str, tmp_path: Path) -> dict:
    """The DAGs a written Python DAG file defines, loaded as minorch loads DAG files."""
    from minorch.config import load_settings
    from minorch.registry import load as load_registry

    (tmp_path / "dags").mkdir(exist_ok=True)
    (tmp_path / "dags" / "crontab.py").write_text(text)
    (tmp_path / "minorch.toml").write_text('[minorch]\nstate_dir = ".minorch"\n[defaults]\ntimeout = "1h"\n')
    registry = load_registry(load_settings(tmp_path / "minorch.toml"))
    assert not registry.errors, [str(e) for e in registry.errors]
    return registry.dags


@pytest.mark.parametrize("name", SYSTEM_FILES + USER_FILES)
def test_the_python_file_defines_the_same_dags_as_the_toml_file(name, tmp_path):
    converted = load(name)
    dags = python_dags(to_python(converted, retries=2, retry_delay=90), tmp_path)
    specs = tomllib.loads(to_toml(converted, retries=2, retry_delay=90))["dags"]
    assert list(dags) == list(specs) == [e.dag_id for e in converted.entries]
    for entry in converted.entries:
        made, from_toml = dags[entry.dag_id], build_dag(entry.dag_id, specs[entry.dag_id], file=name)
        assert made.tasks["run"].command == from_toml.tasks["run"].command == task_command(entry)
        assert (made.schedule.expr, made.timezone) == (from_toml.schedule.expr, from_toml.timezone)
        assert made.description == from_toml.description
        for dag in (made, from_toml):
            opts = dag.tasks["run"].opts
            assert (opts.timeout, opts.retries, opts.retry_delay) == (None, 2, 90.0)
            assert opts.env == {**entry.env}
            assert dag.max_active_runs == 1


def test_imported_dags_have_no_timeout_whatever_the_defaults_say(tmp_path):
    dags = python_dags(to_python(load("user-alice")), tmp_path)
    assert {d.tasks["run"].opts.timeout for d in dags.values()} == {None}
    assert {d.tasks["run"].opts.retries for d in dags.values()} == {0}
    spec = tomllib.loads(to_toml(load("user-alice")))["dags"]["cron_backup_sh"]
    assert spec["timeout"] == "none" and spec["retries"] == 0 and "retry_delay" not in spec


def test_awkward_commands_survive_the_python_file_byte_for_byte(tmp_path):
    converted = parse_crontab(NASTY)
    dags = python_dags(to_python(converted), tmp_path)
    assert {e.dag_id: task_command(e) for e in converted.entries} == {
        dag_id: dag.tasks["run"].command for dag_id, dag in dags.items()
    }


# ---------------------------------------------------------------- the command, as a user runs it

ALICE = DATA / "user-alice"


def test_import_to_a_py_file_writes_python_that_validates(project):
    done = project.minorch("import-crontab", str(ALICE), "-o", "dags/cron.py")
    assert done.returncode == 0, done.stderr
    assert "wrote 9 DAGs to dags/cron.py" in done.stdout
    assert (project.root / "dags" / "cron.py").read_text().count("with DAG(") == 9
    checked = project.minorch("validate")
    assert checked.returncode == 0 and checked.stdout.startswith("9 DAGs, 9 tasks, 0 errors"), checked


def test_import_refuses_an_output_that_is_neither_toml_nor_python(project):
    done = project.minorch("import-crontab", str(ALICE), "-o", "dags/cron.txt")
    assert done.returncode == 2 and not (project.root / "dags" / "cron.txt").exists()
    assert done.stderr.splitlines() == [
        "minorch: error: -o dags/cron.txt: a DAG file ends in .toml or .py (write e.g. -o dags/cron.toml)"
    ]


def test_an_imported_job_outlives_the_projects_default_timeout_and_retries_as_asked(project):
    """[defaults] timeout = 1s would kill a 2 s job; cron would not, and neither does the import."""
    project.configure(defaults='timeout = "1s"')
    crontab = project.write("jobs.crontab", "0 3 * * * sleep 2; echo slept >> slept.txt\n0 4 * * * false\n")
    done = project.minorch(
        "import-crontab", str(crontab), "-o", "dags/cron.toml", "--retries", "1", "--retry-delay", "0s"
    )
    assert done.returncode == 0, done.stderr
    slow = project.minorch("run", "cron_sleep", "-q")
    assert slow.returncode == 0, slow.stdout + slow.stderr
    assert (project.root / "slept.txt").read_text() == "slept\n"
    failing = project.minorch("run", "cron_false", "--json")
    assert failing.returncode == 1
    assert [t["tries"] for t in json.loads(failing.stdout)["tasks"]] == [2]  # the first try and one retry


def test_import_exits_1_and_writes_nothing_when_no_line_could_be_imported(project):
    crontab = project.write("bad.crontab", "61 2 * * * /usr/bin/late\n@DAILY /usr/bin/backup\n")
    done = project.minorch("import-crontab", str(crontab), "-o", "dags/cron.toml")
    assert done.returncode == 1 and not (project.root / "dags" / "cron.toml").exists()
    assert "bad.crontab:1: not imported" in done.stderr and "bad.crontab:2: not imported" in done.stderr
    assert done.stderr.splitlines()[-1] == f"minorch: error: {crontab}: no cron entry could be imported"
    empty = project.write("empty.crontab", "# nothing here\n")
    assert project.minorch("import-crontab", str(empty), "-o", "dags/cron.toml").returncode == 1
