"""The Jinja side of `minorch.templates`: the sandboxed environments that render task commands and
other strings, and the parse-tree reading `templates.check` uses.

`templates` imports this module only when a text has template syntax in it (``{{``, ``{%`` or
``{#``): Jinja costs about a fifth of a minorch process's start, and most processes render nothing
or only plain commands.
"""

from __future__ import annotations

import functools
import json
import shlex
from collections.abc import Callable
from datetime import datetime
from typing import cast

from jinja2 import StrictUndefined, Template, TemplateRuntimeError, TemplateSyntaxError, UndefinedError, nodes
from jinja2.meta import find_undeclared_variables
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import missing

__all__ = ["PLAIN", "Missing", "TemplateSyntaxError", "analyse", "compiled", "missing"]


class _Raw(str):
    """Text the ``raw`` filter marked as trusted: pasted into a shell command unquoted."""


class Missing(UndefinedError):
    """An undefined name or key was used; carries which, so the message can name it."""

    def __init__(self, message: str | None, *, name: str | None, obj: object) -> None:
        super().__init__(message)
        self.name = name
        self.obj = obj


class _Undefined(StrictUndefined):
    """StrictUndefined whose error remembers the missing name and its container."""

    __slots__ = ()

    def __init__(
        self,
        hint: str | None = None,
        obj: object = missing,
        name: str | None = None,
        exc: type[TemplateRuntimeError] = UndefinedError,
    ) -> None:
        if exc is UndefinedError:  # the sandbox passes SecurityError for unsafe attributes: keep it
            # Jinja only ever calls it with the message, as it would the class.
            exc = cast("type[TemplateRuntimeError]", functools.partial(Missing, name=name, obj=obj))
        super().__init__(hint, obj, name, exc)


class _Environment(SandboxedEnvironment):
    def getattr(self, obj: object, attribute: str) -> object:
        # `xcom.items` must be the upstream task 'items', not dict.items: keys win.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _shell_text(value: object) -> str:
    return value if isinstance(value, _Raw) else shlex.quote(_text(value))


def _make_environment(finalize: Callable[[object], str]) -> _Environment:
    env = _Environment(undefined=_Undefined, keep_trailing_newline=True, finalize=finalize, auto_reload=False)
    env.filters["raw"] = lambda value: _Raw(_text(value))
    return env


PLAIN = _make_environment(_text)
_SHELL = _make_environment(_shell_text)


@functools.lru_cache(maxsize=1024)
def compiled(template: str, shell: bool) -> Template:
    """`template` compiled for plain text or for a shell command (each expression quoted)."""
    return (_SHELL if shell else PLAIN).from_string(template)


@functools.lru_cache(maxsize=4096)
def analyse(template: str) -> tuple[TemplateSyntaxError | None, list[tuple[int, str]]]:
    """(the syntax error, or None; each undeclared name with the first line it is used on, in
    the order Jinja finds them). A template of output and ``if`` only, with known filters and
    tests, declares no names: every name it loads is undeclared, read off the parse tree.
    Anything else is compiled as before (unknown filters, assignments, loops, macros), which
    costs ~10x a parse."""
    try:
        tree = PLAIN.parse(template)
        if _plain_tree(tree):
            undeclared = None
        else:
            PLAIN.compile(tree)
            undeclared = find_undeclared_variables(tree)
    except TemplateSyntaxError as e:
        return e, []
    first: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and (undeclared is None or node.name in undeclared):
            first[node.name] = min(node.lineno, first.get(node.name, node.lineno))
    return None, [(line, name) for name, line in first.items()]


def _plain_tree(tree: nodes.Template) -> bool:
    if not all(isinstance(node, (nodes.Output, nodes.If)) for node in tree.find_all(nodes.Stmt)):
        return False
    if any(node.name not in PLAIN.filters for node in tree.find_all(nodes.Filter)):
        return False
    return all(node.name in PLAIN.tests for node in tree.find_all(nodes.Test))
