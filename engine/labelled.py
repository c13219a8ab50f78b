"""Enumerations whose members carry a label for people beside the value that files and code use."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Self


class LabelledEnum(StrEnum):
    """A StrEnum whose members are declared `NAME = "value", "label"`: the value goes into files, the
    database and the command line; `label` is what people read on screen and in reports. Look a member up
    by its value as with any enum: `FrameStatus("no_face")`."""

    label: str

    if not TYPE_CHECKING:  # type checkers keep StrEnum's signature, which lookups by value use

        def __new__(cls, value: str, label: str) -> Self:
            member = str.__new__(cls, value)
            member._value_ = value
            member.label = label
            return member
