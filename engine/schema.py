"""Values from outside painmon (model cards, training configs) checked against the dataclass they fill.

A field's type is its annotation (str, bool, int, float, `X | None`, tuple[X, X], tuple[X, ...], list[X],
dict[str, Any], Any) and its range `within(...)` in the field's metadata (for a list or tuple: of each
element). `checked` returns parsed values converted to those types; `Checked` dataclasses check their fields
whenever one is made. Both raise SchemaError naming the first field that is wrong. Adding a setting is adding
its field: its type and range are declared there only.
"""

from __future__ import annotations

import functools
import math
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

RANGE = "range"
"""Key of a field's Range in its metadata."""


class SchemaError(ValueError):
    """A value does not have its field's type or lies outside its range; the message names the field."""


@dataclass(frozen=True)
class Range:
    """Allowed numbers: low and high bounds (None: unbounded), each included unless marked open."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.low is not None and self.high is not None and not (self.low_open or self.high_open):
            return f"between {_text(self.low)} and {_text(self.high)}"
        parts = []
        if self.low is not None:
            parts.append("positive" if self.low == 0 and self.low_open
                         else f"{'>' if self.low_open else '>='} {_text(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {_text(self.high)}")
        return " and ".join(parts)


def within(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> dict[str, Range]:
    """Field metadata giving its range, e.g. `field(default=0.9, metadata=within(0, 1, high_open=True))`."""
    return {RANGE: Range(low, high, low_open, high_open)}


POSITIVE = within(0, low_open=True)
"""Metadata of a field that must be > 0."""
NOT_NEGATIVE = within(0)
"""Metadata of a field that must be >= 0."""


def checked(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` for the fields of dataclass `cls` that they name, each checked against its field's type and
    range and converted to it (lists to tuples, ints to floats); keys that are not fields are left out."""
    hints = _hints(cls)
    return {f.name: _value(values[f.name], hints[f.name], f.name, f.metadata.get(RANGE))
            for f in fields(cls) if f.name in values}


class Checked:
    """Base of dataclasses whose fields are checked against their types and ranges whenever one is made
    (SchemaError); a subclass with rules of its own extends `__post_init__`."""

    def __post_init__(self) -> None:
        checked(type(self), {f.name: getattr(self, f.name) for f in fields(self)})  # type: ignore[arg-type]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


_PLAIN: dict[Any, tuple[str, Callable[[Any], bool]]] = {
    bool: ("true or false", lambda v: isinstance(v, bool)),
    str: ("text", lambda v: isinstance(v, str)),
    dict: ("an object with text keys", lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v)),
}
"""Types taken as they are, with what a value must be and the test of it."""


def _value(value: Any, kind: Any, name: str, limits: Range | None) -> Any:
    """`value` as type `kind`, or SchemaError."""
    origin, args = typing.get_origin(kind) or kind, typing.get_args(kind)
    if kind is Any:
        return value
    if origin in (types.UnionType, typing.Union):  # only `X | None`
        other = next(arg for arg in args if arg is not type(None))
        return None if value is None else _value(value, other, name, limits)
    if origin in (tuple, list):
        return _sequence(value, origin, args, name, limits)
    if origin in _PLAIN:
        what, fits = _PLAIN[origin]
        if not fits(value):
            raise SchemaError(f"{name} must be {what}, got {_shown(value)}")
        return value
    return _number(value, kind, name, limits)


def _number(value: Any, kind: type, name: str, limits: Range | None) -> int | float:
    if kind not in (int, float):  # a field of a type this module does not know: a mistake in the code
        raise TypeError(f"engine.schema cannot check {name} of type {kind!r}")
    if kind is int and not (isinstance(value, int) and not isinstance(value, bool)):
        raise SchemaError(f"{name} must be a whole number, got {_shown(value)}")
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise SchemaError(f"{name} must be a finite number, got {_shown(value)}")
        value = float(value)
    if limits is not None and value not in limits:
        raise SchemaError(f"{name} must be {limits}, got {_shown(value)}")
    return typing.cast(int | float, value)


def _sequence(value: Any, origin: type, args: tuple[Any, ...], name: str, limits: Range | None) -> Any:
    if not isinstance(value, list | tuple):
        raise SchemaError(f"{name} must be a list, got {_shown(value)}")
    kinds = [args[0]] * len(value) if origin is list or args[-1] is Ellipsis else list(args)
    if len(kinds) != len(value):
        raise SchemaError(f"{name} must be a list of {len(kinds)} values, got {_shown(value)}")
    items = [_value(item, kind, f"{name}[{i}]", limits)
             for i, (item, kind) in enumerate(zip(value, kinds, strict=True))]
    return tuple(items) if origin is tuple else items


def _text(bound: float) -> str:
    """A bound as people write it: 4096, 0.5, 1e-06."""
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def _shown(value: Any) -> str:
    """A value as an error message shows it: its repr, cut at 40 characters."""
    try:
        text = repr(value)
    except ValueError:  # an integer of more digits than Python converts to text
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= 40 else text[:37] + "..."
