"""The `painmon` command: the GUI when run bare, subcommands for analysis, training and engines."""

from __future__ import annotations

import argparse
import sys

from engine.backends import Backend
from engine.errors import PainmonError

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser; each package contributes its own subcommands."""
    from engine import cli as engine_cli
    from train import cli as train_cli

    parser = argparse.ArgumentParser(prog="painmon", description="Real-time bedside pain monitor.")
    parser.add_argument("--self-test", action="store_true",
                        help="run the engine on the simulated patient (no camera or display) and exit")
    parser.add_argument("--backend", choices=[str(b) for b in Backend], default=str(Backend.AUTO),
                        help="the backend --self-test runs (the monitor's is chosen in Settings)")
    parser.add_argument("--full-screen", action="store_true",
                        help="open the monitor full screen, as a central station (F11 toggles it)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    engine_cli.add_commands(sub)
    train_cli.add_commands(sub)
    parser.set_defaults(func=engine_cli.lazy("app.qt_libraries:open_monitor"))  # bare `painmon`: the monitor
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.self_test:
        from engine import cli as engine_cli

        args.func = engine_cli.lazy("engine.self_test:run")
    try:
        return int(args.func(args) or 0)
    except PainmonError as exc:
        print(f"painmon: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("painmon: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, not a traceback
        print(f"painmon: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
