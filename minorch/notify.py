"""Notifications: react to task state changes by running a command, POSTing a webhook or mailing.

A notifier is named in `[notifiers.NAME]` of minorch.toml or written inline in a task's
`on_failure` / `on_retry` / `on_success` list:

- ``{ command = "..." }``: run with /bin/sh; the event as JSON on its stdin.
- ``{ webhook = "https://..." }``: POST the event as JSON, with a Slack-compatible `text` field.
- ``{ mail = "ops@example.com" }``: `mail -s SUBJECT ADDRESS` (or `sendmail -t`) with the text as body.

Notifications never block the scheduler and never stop it: commands run in the background,
webhooks in a thread with a 10 s timeout; failures are logged.
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Mapping
from datetime import datetime, timezone

log = logging.getLogger("minorch.notify")

WEBHOOK_TIMEOUT = 10.0
EVENTS = {"failed": "on_failure", "up_for_retry": "on_retry", "success": "on_success"}


class Notifier:
    def __init__(self, named: Mapping[str, Mapping]) -> None:
        self.named = dict(named)
        self._children: list[subprocess.Popen] = []

    def task_changed(self, dag, task, run, state: str, message: str, try_number: int) -> None:
        option = EVENTS.get(state)
        if option is None:
            return
        targets = getattr(task.opts, option)
        if not targets:
            return
        event = {"event": option, "dag_id": dag.dag_id, "run_id": run.run_id, "task_id": task.task_id,
                 "state": state, "try_number": try_number, "logical_date": run.logical_date, "message": message,
                 "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        event["text"] = f"minorch: {dag.dag_id}.{task.task_id} {state} (run {run.run_id}, try {try_number}): {message}"
        self.send(targets, event)

    def send(self, targets, event: dict) -> None:
        self._reap()
        for target in targets:
            spec = self.named.get(target) if isinstance(target, str) else target
            if spec is None:
                log.error("notifier %r is not defined under [notifiers]", target)
                continue
            try:
                if "command" in spec:
                    self._command(spec["command"], json.dumps(event))
                elif "webhook" in spec:
                    threading.Thread(target=_post, args=(spec["webhook"], event), daemon=True).start()
                elif "mail" in spec:
                    self._mail(spec["mail"], event)
                else:
                    log.error("notifier %r has none of command, webhook, mail", target)
            except OSError as err:
                log.error("notifier %r failed to start: %s", target, err)

    def _command(self, command: str, stdin: str) -> None:
        child = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            child.stdin.write(stdin.encode())
            child.stdin.close()
        except BrokenPipeError:
            pass
        self._children.append(child)

    def _mail(self, address: str, event: dict) -> None:
        subject = f"minorch: {event['dag_id']}.{event['task_id']} {event['state']}"
        body = event["text"] + "\n\n" + json.dumps(event, indent=2)
        if shutil.which("mail"):
            self._command(f"mail -s {shlex.quote(subject)} {shlex.quote(address)}", body)
        elif shutil.which("sendmail"):
            self._command("sendmail -t", f"To: {address}\nSubject: {subject}\n\n{body}\n")
        else:
            log.error("cannot mail %s: neither `mail` nor `sendmail` is installed", address)

    def _reap(self) -> None:
        self._children = [c for c in self._children if c.poll() is None]


def _post(url: str, event: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
            response.read()
    except Exception as err:  # noqa: BLE001 - a webhook failure is logged, never fatal
        log.error("webhook %s failed: %s", url, err)
