"""The schema of values from outside: types from annotations, ranges from field metadata, one named error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from engine.schema import POSITIVE, Checked, SchemaError, checked, within


@dataclass(frozen=True)
class Settings(Checked):
    size: tuple[int, int] | None = None
    rate: float = field(default=0.5, metadata=within(0, 1, high_open=True))
    count: int = field(default=1, metadata=POSITIVE)
    codes: tuple[int, ...] = field(default=(), metadata=within(1, 64))
    names: list[str] = field(default_factory=list)
    on: bool = False


def test_values_are_converted_to_their_fields_types() -> None:
    values = checked(Settings, {"size": [112, 96], "rate": 0, "codes": [4, 43], "names": ["a"], "other": 1})
    assert values == {"size": (112, 96), "rate": 0.0, "codes": (4, 43), "names": ["a"]}
    assert isinstance(values["rate"], float)
    assert Settings(**values) == Settings(size=(112, 96), rate=0.0, codes=(4, 43), names=["a"])


@pytest.mark.parametrize(("values", "message"), [
    ({"size": [112]}, "size must be a list of 2 values, got [112]"),
    ({"size": "112x96"}, "size must be a list, got '112x96'"),
    ({"rate": 1}, "rate must be >= 0 and < 1, got 1.0"),
    ({"rate": float("nan")}, "rate must be a finite number, got nan"),
    ({"rate": True}, "rate must be a finite number, got True"),
    ({"count": 0}, "count must be positive, got 0"),
    ({"count": 2.0}, "count must be a whole number, got 2.0"),
    ({"codes": [4, 65]}, "codes[1] must be between 1 and 64, got 65"),
    ({"names": ["a", 3]}, "names[1] must be text, got 3"),
    ({"on": "no"}, "on must be true or false, got 'no'"),
])
def test_a_value_of_another_type_or_out_of_range_is_named(values: dict, message: str) -> None:
    with pytest.raises(SchemaError) as error:
        checked(Settings, values)
    assert str(error.value) == message


def test_a_checked_dataclass_is_checked_when_made() -> None:
    with pytest.raises(SchemaError, match="count must be positive, got -1"):
        Settings(count=-1)


def test_a_field_of_a_type_the_schema_does_not_know_is_a_mistake_in_the_code() -> None:
    @dataclass
    class Odd:
        where: Path

    with pytest.raises(TypeError, match="cannot check where"):
        checked(Odd, {"where": "/tmp"})
