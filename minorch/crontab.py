"""Crontab text -> minorch DAGs: the core of `minorch import-crontab`.

`parse_crontab` reads cronie/Vixie syntax; `crontab_output` writes the DAG file. What maps to what:

- ``m h dom mon dow command`` (or ``@daily`` ...) -> one DAG with one task ``run``; the schedule is
  copied as written and checked with `minorch.schedule.parse_schedule`.
- ``NAME=value`` / ``NAME = "value"`` (quotes stripped, as cronie's ``load_env``) applies to the
  lines below it and becomes the task's ``env``; ``CRON_TZ`` -> ``timezone`` (``TZ`` only sets the
  command's environment, and an empty ``CRON_TZ=`` means the host zone, as in cronie);
  ``SHELL`` other than /bin/sh -> the task's ``shell``; ``MAILTO`` -> ``on_failure`` mail
  notifiers (``MAILTO=""`` -> none).
- ``%``: the first unescaped ``%`` ends the command, the rest is stdin with each further ``%``
  a newline; ``\\%`` is a literal ``%`` (cronie's do_command.c, byte for byte). Stdin is given
  back as a here-document, which always ends with a newline.
- System crontabs (/etc/crontab, /etc/cron.d/*) have a user field; a non-root user's command
  is wrapped in ``runuser -u USER -- SHELL -c '...'``, which needs minorch to run as root.
- Comment lines directly above an entry become its description.

A line that cannot be converted is reported in `ConvertedCrontab.skipped` with its number and
reason, never dropped. Text that is not a crontab at all (binary, a script, an INI or TOML
file) raises ConfigError naming the first line that gives it away.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

from .errors import ConfigError, MinorchError, did_you_mean
from .schedule import parse_schedule


@dataclass
class CronEntry:
    """One crontab job. `command` and `stdin` are what cron hands to the shell, after `%` rules."""

    line: int
    schedule: str
    command: str
    stdin: str | None
    user: str | None
    env: dict[str, str]
    comment: str | None
    dag_id: str
    text: str = ""  # the crontab line as written
    timezone: str | None = None  # CRON_TZ, else the host zone given to parse_crontab

    @property
    def mail(self) -> list[str] | None:
        """MAILTO addresses; None when MAILTO is unset, [] when set empty."""
        if "MAILTO" not in self.env:
            return None
        return [a for a in re.split(r"[,\s]+", self.env["MAILTO"]) if a]

    @property
    def shell(self) -> str:
        return self.env.get("SHELL") or "/bin/sh"


@dataclass
class Skipped:
    line: int
    text: str
    reason: str


@dataclass
class ConvertedCrontab:
    entries: list[CronEntry]
    skipped: list[Skipped]
    source: str


class _Skip(Exception):
    """A line that looks like an entry but cannot be converted; the message is the reason."""


CRON_PRESETS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly", "@reboot")
_MINUTE = re.compile(r"-?[0-9*][0-9A-Za-z*/,\-]*")  # loose: also catches bad minutes, to report them
_NUMERIC_FIELD = re.compile(r"[0-9*][0-9*/,\-]*")
_NAMED_FIELD = re.compile(r"[0-9A-Za-z*][0-9A-Za-z*/,\-]*")
_ASSIGNMENT_LIKE = re.compile(r"""\s*["']?[A-Za-z_][A-Za-z0-9_]*["']?\s*=""")
_BINARY = re.compile(r"[\x00-\x08\x0e-\x1f\ud800-\udfff]")


def is_system_crontab(path: str) -> bool:
    """True for /etc/crontab and files in /etc/cron.d, whose lines carry a user field."""
    path = os.path.normpath(path)
    return path == "/etc/crontab" or os.path.dirname(path) == "/etc/cron.d"


def host_timezone(etc: str = "/etc") -> str | None:
    """The IANA zone cron uses on this host (/etc/localtime's link, else /etc/timezone), or None."""
    target = os.path.realpath(os.path.join(etc, "localtime"))
    if "/zoneinfo/" in target:
        return target.split("/zoneinfo/", 1)[1].removeprefix("posix/").removeprefix("right/")
    try:
        with open(os.path.join(etc, "timezone"), encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        return None


def parse_crontab(
    text: str | bytes, *, source: str = "-", system: bool = False, timezone: str | None = None
) -> ConvertedCrontab:
    """Read a crontab. `system`: lines have a user field; `timezone`: the zone cron would use
    for lines without CRON_TZ (pass `host_timezone()`; None leaves it to minorch.toml).

    Raises ConfigError ("source:line: not a crontab: ...") for binary data, a script, or a file
    whose first line that is not a comment or NAME=value is not a cron entry.
    """
    if isinstance(text, bytes):
        data = text
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ConfigError(
                "not a crontab: the file is not UTF-8 text (binary data?)",
                file=source,
                line=data.count(b"\n", 0, err.start) + 1,
            ) from None
    converted = ConvertedCrontab(entries=[], skipped=[], source=source)
    env: dict[str, str] = {}
    comments: list[str] = []
    seen_statement = False
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if _BINARY.search(line):
            raise ConfigError(
                "not a crontab: it holds binary data",
                file=source,
                line=number,
                hint="give the path of a crontab file, e.g. /etc/crontab or the output of `crontab -l`",
            )
        stripped = line.strip()
        if number == 1 and stripped.startswith("#!"):
            raise ConfigError(
                f"not a crontab: it starts with {stripped[:40]!r}, so it is a script",
                file=source,
                line=number,
                hint="import the crontab that runs the script, not the script",
            )
        if not stripped:
            comments = []
            continue
        if stripped.startswith("#"):
            body = stripped[1:].strip()
            comments = [] if _is_entry_shaped(body, system, strict=True) else comments + [body]
            continue
        assignment = _assignment(stripped)
        if assignment is not None:
            env[assignment[0]] = assignment[1]
            comments = []
            continue
        description = "\n".join(comments).strip() or None
        comments = []
        if _ASSIGNMENT_LIKE.match(stripped):
            converted.skipped.append(
                Skipped(number, line, "not a valid NAME=value line: unbalanced quotes or text after the closing quote")
            )
            continue
        if not _is_entry_shaped(stripped, system, strict=False):
            if not seen_statement:
                word = stripped.split()[0]
                raise ConfigError(
                    f"not a crontab: line starts with {word[:40]!r}, which is neither a time field, "
                    "an @preset nor NAME=value",
                    file=source,
                    line=number,
                    hint=_entry_hint(system),
                )
            converted.skipped.append(Skipped(number, line, "not a cron entry: it does not start with a time field"))
            continue
        seen_statement = True
        try:
            converted.entries.append(_entry(line, number, system, dict(env), description, timezone))
        except _Skip as err:
            converted.skipped.append(Skipped(number, line, str(err)))
    _assign_ids(converted.entries)
    return converted


def _entry_hint(system: bool) -> str:
    user = " root" if system else ""
    return (
        f"a crontab line is five time fields{' and a user' if system else ''} then a command, "
        f"e.g. '30 2 * * *{user} /usr/local/bin/backup.sh'"
    )


def _is_entry_shaped(line: str, system: bool, *, strict: bool) -> bool:
    """Does `line` start like a cron entry? `strict` (for comments): all five fields look right
    and a command follows, so that '# 5 minutes later' is prose, not a disabled entry."""
    words = line.lstrip("-").split()
    if not words:
        return False
    if words[0].startswith("@"):
        return not strict or (words[0] in CRON_PRESETS and len(words) >= (3 if system else 2))
    if not strict:
        return bool(_MINUTE.fullmatch(words[0]))
    if len(words) < (7 if system else 6):
        return False
    return all(_NUMERIC_FIELD.fullmatch(w) for w in words[:3]) and all(_NAMED_FIELD.fullmatch(w) for w in words[3:5])


def _assignment(line: str) -> tuple[str, str] | None:
    """cronie's load_env: NAME=value, NAME or value optionally quoted; None if not an assignment.

    An unquoted name ends at '=' or whitespace; after a quoted value only whitespace may follow;
    an unquoted value loses trailing whitespace.
    """
    match = re.fullmatch(r"""(?:"([^"=]*)"|'([^'=]*)'|([^\s=]+))\s*=\s*(.*)""", line, re.S)
    if not match or not (name := next(g for g in match.groups()[:3] if g is not None)):
        return None
    value = match.group(4)
    if value[:1] in ("'", '"'):
        quoted = re.fullmatch(rf"{value[0]}([^{value[0]}]*){value[0]}\s*", value)
        return (name, quoted.group(1)) if quoted else None
    return name, value.rstrip()


def _entry(
    line: str, number: int, system: bool, env: dict[str, str], description: str | None, default_tz: str | None
) -> CronEntry:
    rest = line.lstrip().removeprefix("-")  # cronie: a leading '-' only turns off syslog logging
    count = 1 if rest.startswith("@") else 5
    parts = re.split(r"[ \t]+", rest, maxsplit=count + (1 if system else 0))
    if len(parts) <= count + (1 if system else 0) or not parts[-1].strip():
        raise _Skip(
            f"expected {'an @preset' if count == 1 else 'five time fields'}{', a user' if system else ''} and a command"
        )
    schedule = " ".join(parts[:count])
    if count == 1 and schedule not in CRON_PRESETS:  # minorch's own words (@none) are not cron's
        if schedule.lower() in CRON_PRESETS:
            raise _Skip(f"cron reads '{schedule}' case-sensitively and never ran this line (write {schedule.lower()})")
        hint = did_you_mean(schedule.lower(), CRON_PRESETS) or "cron has " + ", ".join(CRON_PRESETS)
        raise _Skip(f"unknown cron preset '{schedule}' ({hint})")
    if any(part.startswith("*") for part in parts[count:]):
        raise _Skip(
            "the command starts with '*': a sixth time field (seconds or years)? cron has five, "
            "and cronie and Debian's cron refuse such a line"
        )
    user = parts[count] if system else None
    tz = env.get("CRON_TZ") or default_tz  # TZ= is only the command's environment
    try:
        parse_schedule(schedule, tz or "UTC")
    except MinorchError as err:
        raise _Skip(str(err)) from None
    command, stdin = split_percent(parts[-1])
    if not command.strip():
        raise _Skip("the command is empty")
    return CronEntry(
        line=number,
        schedule=schedule,
        command=command,
        stdin=stdin,
        user=user,
        env=env,
        comment=description,
        dag_id="",
        text=line,
        timezone=tz,
    )


def split_percent(raw: str) -> tuple[str, str | None]:
    """cron's `%` rules: ``'mail -s hi root%line 1%line 2'`` -> ``('mail -s hi root', 'line 1\\nline 2')``.

    In the command ``\\%`` becomes ``%``; the first other ``%`` ends it. In the stdin each
    unescaped ``%`` is a newline and ``\\%`` is ``%``; other backslashes stay.
    """
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(raw):
        if escaped:
            if ch == "%":
                out[-1] = "%"
            else:
                out.append(ch)
            escaped = False
        elif ch == "%":
            return "".join(out), _stdin(raw[i + 1 :])
        else:
            escaped = ch == "\\"
            out.append(ch)
    return "".join(out), None


def _stdin(data: str) -> str:
    out: list[str] = []
    escaped = False
    for ch in data:
        if escaped:
            if ch != "%":
                out.append("\\")
        elif ch == "%":
            ch = "\n"
        escaped = ch == "\\"
        if not escaped:
            out.append(ch)
    if escaped:
        out.append("\\")
    return "".join(out)


# ---------------------------------------------------------------- DAG ids

_GUARDS = {
    "test",
    "[",
    "[[",
    "cd",
    "true",
    ":",
    "sleep",
    "export",
    "umask",
    "ulimit",
    "set",
    "echo",
    "printf",
    "exit",
    "for",
    "case",
    "select",
    "unset",
    "source",
    ".",
}
_KEYWORDS = {
    "if",
    "then",
    "else",
    "elif",
    "fi",
    "do",
    "done",
    "while",
    "until",
    "!",
    "{",
    "}",
    "exec",
    "time",
    "nohup",
    "chronic",
    "cronic",
    "setsid",
    "builtin",
}
# wrapper -> (options that take a value, positionals before the wrapped command)
_WRAPPERS = {
    "nice": ({"-n", "--adjustment"}, 0),
    "ionice": ({"-c", "-n", "-p", "-P", "-u", "--class"}, 0),
    "timeout": ({"-s", "-k", "--signal", "--kill-after"}, 1),
    "flock": ({"-w", "-E", "--timeout"}, 1),
    "env": ({"-u", "--unset", "-C", "--chdir", "-S"}, 0),
    "stdbuf": ({"-i", "-o", "-e"}, 0),
    "sudo": ({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"}, 0),
    "command": (set(), 0),
    "runuser": ({"-u", "-g", "-G", "-s", "-w"}, 0),
    "su": ({"-s", "-g", "-G", "-w"}, 0),
    "systemd-cat": ({"-t", "-p", "--identifier", "--priority"}, 0),
}
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ash"}
_INTERPRETERS = re.compile(r"(python|perl|ruby|php|node|lua|tclsh|Rscript|pwsh)[0-9.]*|run-parts")
_GENERIC = {
    "cron",
    "run",
    "main",
    "index",
    "job",
    "jobs",
    "task",
    "tasks",
    "manage",
    "console",
    "artisan",
    "start",
    "script",
    "cli",
    "app",
    "worker",
}
_SEPARATORS = {"&&", "||", ";", "|", "&", "|&", "(", ")", ";;"}


def _words(command: str) -> list[str]:
    command = re.sub(r"`[^`]*`", " ", command)
    while re.search(r"\$\([^()]*\)", command):  # drop $(...) so `[ $(date +%d) -le 7 ]` stays a test
        command = re.sub(r"\$\([^()]*\)", " ", command)
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:  # unbalanced quotes: a rough split still finds the program
        return command.split()


def _segments(words: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in _SEPARATORS:
            segments.append([])
        elif set(word) <= set("<>&|") and ("<" in word or ">" in word):
            skip = True  # a redirection: its target is not a program
        else:
            segments[-1].append(word)
    return [s for s in segments if s]


def _name_of(command: str, depth: int = 0) -> str | None:
    """The program or script a command is about: `test -x x || { cd / && run-parts /etc/cron.daily; }`
    -> 'cron.daily'. Guards (test, cd, command -v, ...) only count when nothing else is there."""
    weak = None
    for segment in _segments(_words(command)):
        name, strong = _segment_name(segment, depth)
        if name and strong:
            return name
        weak = weak or name
    return weak


def _segment_name(words: list[str], depth: int) -> tuple[str | None, bool]:
    while words and (words[0] in _KEYWORDS or re.match(r"[A-Za-z_][A-Za-z0-9_]*=", words[0])):
        words = words[1:]
    if not words:
        return None, False
    program = os.path.basename(words[0]) or words[0]
    args = words[1:]
    code = next((i + 1 for i, a in enumerate(args) if re.fullmatch(r"-[a-z]*c[a-z]*", a)), None)
    if code is not None and (program in _SHELLS or program in ("su", "flock")):
        return (_name_of(args[code], depth + 1), True) if code < len(args) and depth < 3 else (program, False)
    if program == "command" and args[:1] in (["-v"], ["-V"]):
        return program, False
    if program in _WRAPPERS:
        takes_value, positionals = _WRAPPERS[program]
        while args and (args[0].startswith("-") or re.match(r"[A-Za-z_][A-Za-z0-9_]*=", args[0])):
            args = args[2:] if args[0] in takes_value else args[1:]
        args = args[positionals:]
        return _segment_name(args, depth) if args else (program, False)
    if program in _SHELLS or _INTERPRETERS.fullmatch(program):
        if any(a in ("-c", "-e", "-r") for a in args):
            return program, False  # inline code, e.g. perl -e 'sleep int(rand(3600))'
        if "-m" in args[:-1]:
            return args[args.index("-m") + 1], True
        script = next((a for a in args if not a.startswith("-")), None)
        if program == "run-parts" and script:
            return os.path.basename(script.rstrip("/")), True  # /etc/cron.daily -> cron.daily
        return (_script_name(script), True) if script else (program, True)
    return _script_name(words[0]), program not in _GUARDS


def _script_name(path: str) -> str:
    """'/var/www/nextcloud/cron.php' -> 'nextcloud_cron.php': a generic script name keeps its folder."""
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    if len(parts) >= 2 and parts[-1].split(".")[0].lower() in _GENERIC:
        return f"{parts[-2]}_{parts[-1]}"
    return parts[-1] if parts else path


def _assign_ids(entries: list[CronEntry]) -> None:
    """`cron_<name>`: lowercase [a-z0-9_], at most 40 characters, de-duplicated with _2, _3, ..."""
    used: set[str] = set()
    for entry in entries:
        name = re.sub(r"[^a-z0-9]+", "_", (_name_of(entry.command) or "").lower()).strip("_")[:40].strip("_")
        base = name if name.startswith("cron_") else f"cron_{name or 'job'}"
        dag_id, n = base, 1
        while dag_id in used:
            n += 1
            dag_id = f"{base}_{n}"
        used.add(dag_id)
        entry.dag_id = dag_id
