"""Validation of notebook parameters, run right after the ``parameters`` cell.

Papermill injects overrides as a new cell after the ``parameters`` cell, and it injects any name it
is given. ``check_parameters(globals(), SCHEMA)`` therefore looks at every plain-data global the two
cells defined: an unknown name, a missing one, a wrong type or an out-of-range value stops the run
with one message before any heavy work starts.
"""
from __future__ import annotations

import math
import types
from dataclasses import dataclass
from typing import Any, Mapping

# Names IPython itself puts into a kernel's namespace.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


class ParameterError(ValueError):
    """A notebook parameter is unknown, missing, of the wrong type or out of range."""


@dataclass(frozen=True)
class Param:
    """What a parameter may hold.

    ``kind`` is int, float, str, bool or list; an int is accepted where a float is expected.
    ``low``/``high`` bound numbers (and list items); ``choices`` lists allowed values (or list items);
    ``item`` is the type of list items; ``optional`` allows None; ``unique`` (the default) refuses a
    list that names a value twice (a budget attacked twice would be counted twice); ``help`` is shown
    in errors.
    """

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    item: type | None = None
    optional: bool = False
    min_items: int = 1
    unique: bool = True
    help: str = ""

    def check(self, name: str, value: Any) -> None:
        if value is None:
            if self.optional:
                return
            raise ParameterError(f"parameter {name!r} must not be None{self._hint()}")
        if self.kind is list:
            if not isinstance(value, (list, tuple)):
                raise ParameterError(f"parameter {name!r} must be a list, got {type(value).__name__} {value!r}{self._hint()}")
            if len(value) < self.min_items:
                raise ParameterError(f"parameter {name!r} needs at least {self.min_items} item(s), got {value!r}{self._hint()}")
            for index, item in enumerate(value):
                self._check_scalar(f"{name}[{index}]", item, self.item)
            if self.unique:
                seen: list = []
                for item in value:
                    if item in seen:
                        raise ParameterError(
                            f"parameter {name!r} lists {item!r} more than once, in {list(value)!r}; give each value once"
                        )
                    seen.append(item)
            return
        self._check_scalar(name, value, self.kind)

    def _check_scalar(self, name: str, value: Any, kind: type | None) -> None:
        if kind is not None and not _is_instance(value, kind):
            raise ParameterError(
                f"parameter {name!r} must be {kind.__name__}, got {type(value).__name__} {value!r}{self._hint()}"
            )
        if self.choices is not None and value not in self.choices:
            options = ", ".join(repr(c) for c in self.choices)
            raise ParameterError(f"parameter {name!r} must be one of {options}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ParameterError(f"parameter {name!r} must be a finite number, got {value!r}{self._hint()}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            high = self.high if self.high is not None or not isinstance(value, int) else LARGEST_INT
            if high is not None and value > high:
                raise ParameterError(f"parameter {name!r} must be <= {high}, got {value!r}{self._hint()}")
            if self.low is not None and value < self.low:
                raise ParameterError(f"parameter {name!r} must be >= {self.low}, got {value!r}{self._hint()}")

    def _hint(self) -> str:
        return f" ({self.help})" if self.help else ""


DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
# Integers without a stated bound must still fit the C ints that NumPy, PyTorch and ART take.
LARGEST_INT = 2**31 - 1

# The parameters every notebook has: which preset the values came from, the seed, and the device.
RUN_PARAMETERS = {
    "preset": Param(str, help="name of the preset these values come from"),
    "seed": Param(int, low=0, high=2**32 - 1, help="NumPy takes seeds below 2**32"),
    "device": Param(str, choices=DEVICE_CHOICES, help='"auto" picks cuda, then mps, then cpu'),
}


def _is_instance(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _is_parameter_like(name: str, value: Any) -> bool:
    if name.startswith("_") or name in _IPYTHON_NAMES:
        return False
    return not isinstance(value, (types.ModuleType, type)) and not callable(value)


def check_parameters(namespace: Mapping[str, Any], schema: Mapping[str, Param]) -> dict[str, Any]:
    """Validate the notebook's parameters against ``schema`` and return them as a dict.

    Call it in the cell right after ``parameters`` (before other imports define globals), e.g.
    ``params = check_parameters(globals(), quickstart.PARAMETERS)``.
    """
    given = {name: value for name, value in namespace.items() if _is_parameter_like(name, value)}
    valid = ", ".join(schema)
    unknown = sorted(set(given) - set(schema))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(map(repr, unknown))}; valid parameters: {valid}")
    missing = sorted(set(schema) - set(given))
    if missing:
        raise ParameterError(f"missing parameter(s) {', '.join(map(repr, missing))}; the parameters cell must define: {valid}")
    for name, spec in schema.items():
        spec.check(name, given[name])
    return {name: given[name] for name in schema}
