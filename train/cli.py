"""`painmon` subcommands provided by train/."""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register this package's subcommands on the root parser's subparsers."""
