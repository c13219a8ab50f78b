"""The `painmon` command as a user runs it."""

import os
import subprocess
import sys

from tests.helpers import run_painmon


def test_help_prints_usage_and_succeeds():
    result = run_painmon("--help")
    assert result.returncode == 0
    assert "usage: painmon" in result.stdout


def test_unknown_subcommand_is_a_usage_error():
    result = run_painmon("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_bare_command_without_a_display_says_so_in_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "app"], capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("painmon: error: no display to open the monitor")
    assert "Traceback" not in result.stderr
