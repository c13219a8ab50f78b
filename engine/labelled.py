"""Enumerations whose members carry a label for people beside the value that files and code use."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class LabelledEnum(StrEnum):
    """A StrEnum whose members are declared `NAME = "value", "label"`: the value goes into files, the
    database and the command line; `label` is what people read on screen and in reports."""

    label: str

    def __new__(cls, value: str, label: str) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member
