"""What one try gets from the scheduler: its environment, the ``var``/``conn`` its templates
see, and the secret values its output is masked for.

``task_env = "inherit"`` (the default) starts from the scheduler's whole environment, as
cron users expect. ``"clean"`` starts from a minimal one: PATH (the scheduler's Python's
folder, /usr/local/bin, /usr/bin, /bin), HOME, USER, LOGNAME, SHELL, TMPDIR, TZ, LANG,
LC_* and PYTHON* (so Python tasks import what the scheduler does), plus the names (or
globs) in ``env_passthrough``. Either way the try then gets: the environment variables
that variables and connections are defined with (MINORCH_VAR_*, MINORCH_CONN_*,
AIRFLOW_CONN_*, and those an ``env = "NAME"`` reference reads), the DAG's ``env``, and the
MINORCH_* context (MINORCH_DAG_ID, ..., MINORCH_CONFIG, MINORCH_ENV).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from fnmatch import fnmatchcase

from .masking import Masker
from .secrets import Catalog, Resolver
from .variables import template_names

CLEAN_KEEP = ("HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG")
CLEAN_KEEP_PREFIXES = ("LC_", "PYTHON")


def clean_path() -> str:
    return os.pathsep.join(dict.fromkeys([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]))


class SharedEnvironment:
    """What every try shares while the settings and the stored variables and connections stay the
    same: their catalog and the base environment, made once instead of for each try (scanning the
    scheduler's environment for definitions was a seventh of a shell try's cost). The environment
    is read when it is made: the scheduler's own does not change while it runs."""

    def __init__(self, settings, stored: tuple[dict, dict], environ: Mapping[str, str] = os.environ) -> None:
        self.settings = settings
        self.stored = stored
        self.environ = dict(environ)
        self.catalog = Catalog.gather(settings, stored, self.environ)
        names = self.catalog.env_names()
        self.carried = [self.environ[name] for name in names if name in self.environ]  # secrets in every try's env
        self.base = self._base(settings, names)

    def _base(self, settings, names: set[str]) -> dict[str, str]:
        environ = self.environ
        if settings.task_env == "inherit":
            env = dict(environ)
        else:
            patterns = settings.env_passthrough
            env = {
                key: value
                for key, value in environ.items()
                if key in CLEAN_KEEP
                or key.startswith(CLEAN_KEEP_PREFIXES)
                or any(fnmatchcase(key, pattern) for pattern in patterns)
            }
            env.setdefault("PATH", clean_path())
        env.update({name: environ[name] for name in names if name in environ})
        env["MINORCH_CONFIG"] = str(settings.config_file)
        if settings.env_name:
            env["MINORCH_ENV"] = settings.env_name
        return env


def shared_environment(previous: SharedEnvironment | None, settings, store) -> SharedEnvironment:
    """`previous` while `settings` and the store's definitions are those it was made from, else a new one."""
    stored = (store.variables(), store.connections())
    if previous is not None and previous.settings is settings and previous.stored == stored:
        return previous
    return SharedEnvironment(settings, stored)


class TryEnvironment:
    """Made when a try starts; nothing is resolved until a template asks."""

    def __init__(self, shared: SharedEnvironment) -> None:
        self.catalog = shared.catalog
        self.resolver = Resolver(self.catalog, shared.settings.root, shared.environ)
        self.base = shared.base
        self._carried = shared.carried

    def template_names(self) -> dict[str, object]:
        return template_names(self.resolver)

    def secrets(self) -> tuple[str, ...] | None:
        """The values to mask in the try's output (those resolved so far and those its
        environment carries), or None when the try cannot see any secret: no relay."""
        if not self.catalog.has_secrets() and not self.resolver.secrets:
            return None
        return tuple(dict.fromkeys([*self.resolver.secrets, *self._carried]))

    def mask(self, text: str | None) -> str | None:
        """`text` (a rendered command, before it is stored) with the try's secrets masked."""
        if text is None:
            return None
        return Masker(self.secrets() or ()).text(text)
