"""Notifications: react to task state changes by running a command, POSTing a webhook or mailing.

A notifier is named in `[notifiers.NAME]` of minorch.toml or written inline in a task's
(or DAG's) `on_failure` / `on_retry` / `on_success` list, or a DAG's `on_sla_miss`:

- ``{ command = "..." }``: run with /bin/sh; the event as JSON on its stdin.
- ``{ webhook = "https://...", timeout = "5s" }``: POST the event as JSON, with a
  Slack-compatible `text` field; `timeout` defaults to 10 s.
- ``{ mail = "ops@example.com" }``: `mail -s SUBJECT ADDRESS` (or `sendmail -t`) with the text as body.

Notifications never block the scheduler and never stop it: commands run in the background
(their exit codes are checked at the next notification and a failure is logged), webhooks
POST from a thread; every failure is logged, none raises.

Thread safety: a `Notifier` belongs to the scheduler thread. Webhook threads only log.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import logging
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from .durations import parse_duration
from .errors import MinorchError

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger("minorch.notify")

WEBHOOK_TIMEOUT = 10.0  # seconds for connecting and for each read of a webhook's answer
EXIT_FLUSH = 3.0  # seconds a process that ends (e.g. `minorch run`) waits for webhook POSTs in flight
EVENTS = {"failed": "on_failure", "up_for_retry": "on_retry", "success": "on_success"}


class Notifier:
    def __init__(self, named: Mapping[str, Mapping], cwd: str | None = None) -> None:
        """`cwd`: where notifier commands run (the project folder, like tasks)."""
        self.named = dict(named)
        self.cwd = cwd
        self._children: list[tuple[str, subprocess.Popen]] = []
        self._posts: list[threading.Thread] = []
        self._flush_at_exit = False

    def task_changed(self, dag, task, run, state: str, message: str, try_number: int) -> None:
        """Notify the task's `on_failure` / `on_retry` / `on_success` targets of its new `state`."""
        option = EVENTS.get(state)
        if option is None:
            return
        targets = getattr(task.opts, option)
        if not targets:
            return
        event = {
            "event": option,
            "dag_id": dag.dag_id,
            "run_id": run.run_id,
            "task_id": task.task_id,
            "state": state,
            "try_number": try_number,
            "logical_date": run.logical_date,
            "message": message,
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        event["text"] = f"minorch: {dag.dag_id}.{task.task_id} {state} (run {run.run_id}, try {try_number}): {message}"
        self.send(targets, event)

    def sla_missed(self, dag, miss, now: datetime) -> None:
        """Notify the DAG's `on_sla_miss` targets of one `sla.SlaMiss`."""
        if not dag.on_sla_miss:
            return
        deadline = miss.deadline.astimezone(timezone.utc).isoformat(timespec="seconds")
        where = "still " + miss.state if miss.finished_at is None else f"{miss.state} {miss.late:.0f}s late"
        event = {
            "event": "on_sla_miss",
            "dag_id": miss.dag_id,
            "run_id": miss.run_id,
            "task_id": miss.task_id,
            "state": miss.state,
            "sla": miss.sla,
            "deadline": deadline,
            "time": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
        }
        event["text"] = (
            f"minorch: {miss.dag_id}.{miss.task_id} missed its SLA of {miss.sla:g}s "
            f"(run {miss.run_id}, deadline {deadline}): {where}"
        )
        self.send(dag.on_sla_miss, event)

    def send(self, targets: Iterable, event: dict) -> None:
        """Start delivering `event` to each target (a [notifiers] name or an inline table)."""
        self._reap()
        for target in targets:
            spec = self.named.get(target) if isinstance(target, str) else target
            if spec is None:
                log.error("notifier %r is not defined under [notifiers] in minorch.toml", target)
                continue
            name = target if isinstance(target, str) else next(iter(spec.values()), "?")
            try:
                if "command" in spec:
                    self._command(str(name), spec["command"], json.dumps(event))
                elif "webhook" in spec:
                    self._webhook(spec["webhook"], event, _timeout(spec))
                elif "mail" in spec:
                    self._mail(str(name), spec["mail"], event)
                else:
                    log.error("notifier %r has none of command, webhook, mail", target)
            except OSError as err:
                log.error("notifier %r failed to start: %s", name, err)

    def flush(self, timeout: float) -> int:
        """Wait up to `timeout` seconds for webhook POSTs in flight. Those still pending are
        logged and forgotten (a process that exits drops them); returns how many.
        Commands run on without us."""
        deadline = time.monotonic() + timeout
        for thread in self._posts:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._reap()
        pending = len(self._posts)
        if pending:
            log.warning("%d webhook notifications still unanswered after %gs are dropped", pending, timeout)
        self._posts = []  # given up on: an exit-time flush must not wait for them again
        return pending

    def _command(self, name: str, command: str, stdin: str) -> None:
        child = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.cwd,
        )
        assert child.stdin is not None  # stdin=PIPE
        try:
            child.stdin.write(stdin.encode())  # an event is a few hundred bytes: fits the pipe, never blocks
            child.stdin.close()
        except BrokenPipeError:
            pass
        self._children.append((name, child))

    def _webhook(self, url: str, event: dict, timeout: float) -> None:
        thread = threading.Thread(target=_post, args=(url, event, timeout), name="minorch-webhook", daemon=True)
        thread.start()
        self._posts.append(thread)
        if not self._flush_at_exit:
            # Webhook threads are daemons, killed at exit: without this a `minorch run` that
            # fails would often end before its on_failure POST is sent.
            atexit.register(self.flush, EXIT_FLUSH)
            self._flush_at_exit = True

    def _mail(self, name: str, address: str, event: dict) -> None:
        import shlex
        import shutil

        subject = f"minorch: {event['dag_id']}.{event['task_id']} {event['state']}"
        body = event["text"] + "\n\n" + json.dumps(event, indent=2)
        if shutil.which("mail"):
            self._command(name, f"mail -s {shlex.quote(subject)} {shlex.quote(address)}", body)
        elif shutil.which("sendmail"):
            self._command(name, "sendmail -t", f"To: {address}\nSubject: {subject}\n\n{body}\n")
        else:
            log.error("cannot mail %s: neither `mail` nor `sendmail` is installed", address)

    def _reap(self) -> None:
        running = []
        for name, child in self._children:
            code = child.poll()
            if code is None:
                running.append((name, child))
            elif code != 0:
                log.error("notifier %r exited with code %d", name, code)
        self._children = running
        self._posts = [t for t in self._posts if t.is_alive()]


def _timeout(spec: Mapping) -> float:
    raw = spec.get("timeout")
    if raw is None:
        return WEBHOOK_TIMEOUT
    try:
        return parse_duration(raw, name="timeout")
    except MinorchError as err:
        log.error("webhook %s: %s; using %gs", shown(spec["webhook"]), err, WEBHOOK_TIMEOUT)
        return WEBHOOK_TIMEOUT


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """One opener for every webhook POST of the process. Since Python 3.12 building one creates an
    SSL context and loads the system's CA certificates (about 20 ms of CPU, even for http:// URLs),
    which `urllib.request.urlopen` would otherwise do again for each POST."""
    import urllib.request

    return urllib.request.build_opener()


def shown(url: str) -> str:
    """What a log may say of a webhook URL: its scheme and host. The path of a Slack-style hook
    and a `user:password@` part are secrets."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if _port(parts) else ''}/..."


def _port(parts: urllib.parse.SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _post(url: str, event: dict, timeout: float) -> None:
    """POST the event; a `user:password@` in the URL becomes an Authorization: Basic header."""
    import urllib.request  # here, not at the top: with http.client, ssl and email it costs a process that sends
    # no webhook (most) about a tenth of its start-up

    headers = {"Content-Type": "application/json", "User-Agent": "minorch"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:
        login = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
        netloc = (parts.hostname or "") + (f":{parts.port}" if _port(parts) else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    try:
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST", headers=headers)
        with _opener().open(request, timeout=timeout) as response:
            response.read()
    except Exception as err:  # noqa: BLE001 - a webhook failure is logged, never fatal
        reason = str(err).replace(url, shown(url))
        log.error("webhook %s failed for %s.%s: %s", shown(url), event.get("dag_id"), event.get("task_id"), reason)
