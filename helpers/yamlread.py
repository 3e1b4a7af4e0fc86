"""Reading parameter values and preset files as YAML the way a user means them.

Plain YAML 1.1 (PyYAML's ``safe_load``) reads ``01750`` as octal 1000, ``1:30`` as 90, ``no`` as False
and ``2024-01-01`` as a date, and it expands aliases without limit (a few hundred bytes can ask for
gigabytes). Parameters are read here with the YAML 1.2 core schema instead, narrowed further:

- integers are decimal only (``01750`` is 1750; ``0x10`` and ``0o17`` stay text, which the
  parameter check then refuses for a number);
- floats are decimal, with an optional exponent (``1e-3``), plus ``.inf`` and ``.nan``;
- booleans are ``true``/``false`` only (``yes``, ``no``, ``on``, ``off`` stay text);
- ``null``, ``~`` and an empty value are None; everything else, dates and times included, is text;
- anchors, aliases, merge keys and explicit tags (``!!python/...``, ``!!binary``) are refused at the
  first one, before anything is built, and so is a key given twice in one mapping.

Every refusal is a ``YamlValueError`` whose message is one line naming where the text came from.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YamlValueError", "read_yaml", "read_yaml_file"]


class YamlValueError(ValueError):
    """YAML text that is malformed or uses a refused form; the message is one line naming its source.

    ``refused`` is True for a form refused on purpose (alias, anchor, tag, repeated key), False for
    text that is not YAML at all.
    """

    def __init__(self, message: str, refused: bool = False):
        super().__init__(message)
        self.refused = refused


class _Refused(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any = None):
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")


class _CoreLoader(yaml.SafeLoader):
    """SafeLoader with the YAML 1.2 core schema (decimal only) and no aliases, anchors or tags."""

    def compose_node(self, parent, index):  # noqa: D401 (PyYAML's signature)
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(f"aliases (*{event.anchor}) are not allowed", event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise _Refused(f"anchors (&{event.anchor}) are not allowed", event.start_mark)
        tag = getattr(event, "tag", None)
        if tag not in (None, "!"):
            raise _Refused(f"explicit tags ({tag}) are not allowed", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise _Refused("a mapping key must be a plain value", key_node.start_mark) from None
            if duplicate:
                raise _Refused(f"the key {key!r} is given twice", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


_CoreLoader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", _BOOL, list("tTfF")),
    ("tag:yaml.org,2002:int", _INT, list("-+0123456789")),
    ("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789.")),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
):
    _CoreLoader.add_implicit_resolver(_tag, _pattern, _first)
_CoreLoader.add_constructor("tag:yaml.org,2002:int", lambda loader, node: int(loader.construct_scalar(node), 10))


def _describe(error: yaml.YAMLError) -> tuple[str, int | None]:
    """The problem in one line and its 1-based line number (None when unknown)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    text = f"{context}, {problem}" if context and not isinstance(error, _Refused) else problem
    text = " ".join(str(text).split())
    return text, (mark.line + 1 if mark is not None else None)


def read_yaml(text: str, *, source: str) -> Any:
    """``text`` read as YAML (see the module's rules); ``YamlValueError`` names ``source`` in one line."""
    try:
        return yaml.load(text, Loader=_CoreLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        problem, _ = _describe(error)
        raise YamlValueError(f"{source}: {problem}", isinstance(error, _Refused)) from None


def _key_above(text: str, line: int) -> str | None:
    """The top-level key whose value holds 1-based ``line``, if any (the parameter a problem is in)."""
    for row in reversed(text.splitlines()[:line]):
        found = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:", row)
        if found:
            return found.group(1)
    return None


def read_yaml_file(path: str | Path) -> Any:
    """The YAML file at ``path`` (see the module's rules); one-line ``YamlValueError`` naming the file,
    the line and, where there is one, the parameter."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise YamlValueError(f"preset file {path}: cannot be read ({getattr(error, 'strerror', None) or error})") from None
    try:
        return yaml.load(text, Loader=_CoreLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        problem, line = _describe(error)
        key = _key_above(text, line) if line else None
        where = f"line {line}" + (f", parameter {key!r}" if key else "") if line else ""
        raise YamlValueError(f"preset file {path}{' (' + where + ')' if where else ''}: {problem}",
                             isinstance(error, _Refused)) from None
