"""The `painmon` command as a user runs it."""

import os
import subprocess
import sys

from app.cli import main
from app.qt_libraries import XCB_LIBRARIES, xcb_problem
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


def test_a_missing_x11_library_is_named_in_one_line_with_the_apt_command(monkeypatch, capsys):
    """Qt aborts from C++ with a long message when its xcb plugin cannot load: painmon checks first."""
    fake = {"libpainmon-missing.so.9": "painmon-missing", "libc.so.6": "libc6"}
    assert xcb_problem(fake, environ={"DISPLAY": ":0"}, platform="linux") == (
        "Qt cannot open a window on X11: libpainmon-missing.so.9 missing; install with "
        "`sudo apt install painmon-missing` (see README, Install)")
    others = [{"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, {"DISPLAY": ":0", "WAYLAND_DISPLAY": "0"},
              {}]
    for environ in others:
        assert xcb_problem(fake, environ=environ, platform="linux") is None  # Qt would not use xcb
    assert xcb_problem(fake, environ={"DISPLAY": ":0"}, platform="darwin") is None

    monkeypatch.setitem(XCB_LIBRARIES, "libpainmon-missing.so.9", "painmon-missing")
    monkeypatch.setenv("DISPLAY", ":0")
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2  # the bare command, before Qt starts
    error = capsys.readouterr().err
    assert error.startswith("painmon: error: Qt cannot open a window on X11: ") and error.count("\n") == 1
    assert "libpainmon-missing.so.9" in error and "sudo apt install" in error and "painmon-missing" in error
