"""Typed params (Airflow's `Param`): a default with a JSON-schema-like type, checked when a run is made.

    DAG("report", params={"days": Param(7, type="integer", minimum=1, maximum=31)})

    [dags.report.params]
    days = { default = 7, type = "integer", minimum = 1, maximum = 31 }

A param table is typed when it has a `type` or an `enum` key; any other table is a plain value.
`check_conf` runs where a run is created (`minorch run`/`trigger --param/--conf`, the UI's trigger):
a wrong value is one line naming the param (exit 2), and no run is made.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, DagError, did_you_mean

TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}
SCHEMA_KEYS = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "description", "title")
_MISSING = object()


class Param:
    """`Param(default, type=..., enum=..., minimum=..., maximum=..., minLength=..., maxLength=..., pattern=...,
    description=...)`, Airflow's names and meanings."""

    def __init__(self, default: Any = _MISSING, description: str | None = None, **schema: Any) -> None:
        for key in schema:
            if key not in SCHEMA_KEYS:
                raise DagError(f"unknown Param option '{key}'", hint=did_you_mean(key, SCHEMA_KEYS))
        self.default, self.description, self.schema = default, description, schema

    def as_spec(self) -> Any:
        """The TOML-like form: a table when typed, else the bare default."""
        if not {"type", "enum"} & set(self.schema):
            return None if self.default is _MISSING else self.default
        table = dict(self.schema)
        if self.default is not _MISSING:
            table["default"] = self.default
        if self.description:
            table["description"] = self.description
        return table


def is_typed(value: Any) -> bool:
    return isinstance(value, Mapping) and ("type" in value or "enum" in value)


class ParamError(DagError):
    """A bad entry of a params table; `param` names its key, so the error can show that line."""

    def __init__(self, err: DagError, param: str) -> None:
        super().__init__(err.message, file=err.file, line=err.line, hint=err.hint)
        self.param = param


def split_params(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(defaults, schemas) of a params table; raises ParamError for a bad schema or a default it refuses."""
    defaults: dict[str, Any] = {}
    schemas: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        try:
            _split_one(name, value, defaults, schemas)
        except DagError as err:
            raise ParamError(err, name) from err
    return defaults, schemas


def _split_one(name: str, value: Any, defaults: dict, schemas: dict) -> None:
    """Put one param's default in `defaults` and, when typed, its schema in `schemas`."""
    if not is_typed(value):
        defaults[name] = value
        return
    schema = {k: v for k, v in value.items() if k != "default"}
    for key in schema:
        if key not in SCHEMA_KEYS:
            raise DagError(f"param '{name}': unknown schema key '{key}'", hint=did_you_mean(key, SCHEMA_KEYS))
    types = schema.get("type", [])
    for kind in [types] if isinstance(types, str) else types:
        if kind not in TYPES:
            raise DagError(
                f"param '{name}': unknown type {kind!r}", hint=did_you_mean(str(kind), TYPES) or ", ".join(TYPES)
            )
    schemas[name] = schema
    if "default" in value:
        problem = check_value(schema, value["default"])
        if problem:
            raise DagError(f"param '{name}': its default {problem}", hint="fix the default or the schema")
        defaults[name] = value["default"]


def check_value(schema: Mapping[str, Any], value: Any) -> str | None:
    """What is wrong with `value` under `schema`, or None."""
    types = schema.get("type")
    if types is not None:
        kinds = [types] if isinstance(types, str) else list(types)
        ok = any(
            isinstance(value, TYPES[k]) and not (isinstance(value, bool) and k in ("integer", "number")) for k in kinds
        )
        if not ok:
            return f"{value!r} is not of type {' or '.join(kinds)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{value!r} is not one of {schema['enum']!r}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{value!r} is less than the minimum {schema['minimum']!r}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{value!r} is more than the maximum {schema['maximum']!r}"
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            return f"{value!r} is shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{value!r} is longer than {schema['maxLength']} characters"
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return f"{value!r} does not match {schema['pattern']!r}"
    return None


def value_from_text(schema: Mapping[str, Any], text: str) -> Any:
    """A value typed in a form field, read for `schema`: a string param keeps the text as it is, others read it
    as JSON when it parses (7, true, [1, 2]), else as text (which `check_value` then refuses with the reason)."""
    types = schema.get("type")
    if types == "string" or (types is None and all(isinstance(v, str) for v in schema.get("enum", [""]))):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def describe(name: str, schema: Mapping[str, Any], default: Any = _MISSING) -> str:
    """One line for a form: `days (integer, 1..31, default 7): how far back`."""
    facts = []
    types = schema.get("type")
    if types is not None:
        facts.append(types if isinstance(types, str) else " or ".join(types))
    if "minimum" in schema or "maximum" in schema:
        facts.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if default is not _MISSING:
        facts.append(f"default {json.dumps(default)}")
    text = f"{name} ({', '.join(facts)})" if facts else name
    return f"{text}: {schema['description']}" if schema.get("description") else text


def check_conf(schemas: Mapping[str, Mapping], defaults: Mapping[str, Any], conf: Mapping[str, Any]) -> None:
    """Check a run's conf (and the defaults it leaves) against the DAG's typed params; ConfigError (exit 2)."""
    for name, schema in schemas.items():
        if name in conf:
            value = conf[name]
        elif name in defaults:
            value = defaults[name]
        else:
            raise ConfigError(f"param '{name}' has no default and no value", hint=f"pass --param {name}=VALUE")
        problem = check_value(schema, value)
        if problem:
            allowed = schema.get("enum")
            hint = f"one of {allowed!r}" if allowed else f"a value of type {schema.get('type', 'any')}"
            raise ConfigError(f"param '{name}': {problem}", hint=f"pass --param {name}=... with {hint}")
