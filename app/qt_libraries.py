"""The system libraries Qt's X11 platform plugin (xcb) loads, checked before Qt starts: with one missing, Qt
prints a long message and aborts from C++, which Python cannot catch. No Qt here."""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from collections.abc import Mapping

from engine.errors import PainmonError

XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0", "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1", "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1", "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
    "libdbus-1.so.3": "libdbus-1-3",
}
"""Each system library PySide6's libqxcb.so, libQt6XcbQpa, libQt6Gui and libQt6DBus need (their NEEDED
entries and `ldd`), with the Debian / Ubuntu package that holds it (`dpkg -S`, Debian 12)."""


def missing_libraries(libraries: Mapping[str, str] = XCB_LIBRARIES) -> list[str]:
    """The libraries (sonames) the dynamic loader cannot load, in the mapping's order."""
    missing = []
    for name in libraries:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def xcb_problem(libraries: Mapping[str, str] = XCB_LIBRARIES, environ: Mapping[str, str] = os.environ,
                platform: str = sys.platform) -> str | None:
    """Why Qt's X11 plugin would abort, in one line naming the missing libraries and the apt command; None
    when it would load or is not the one Qt will use (not Linux, another QT_QPA_PLATFORM, Wayland, no
    DISPLAY)."""
    qpa = environ.get("QT_QPA_PLATFORM", "")
    x11 = qpa == "xcb" or (not qpa and not environ.get("WAYLAND_DISPLAY"))
    if not platform.startswith("linux") or not x11 or not environ.get("DISPLAY"):
        return None
    missing = missing_libraries(libraries)
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(libraries[name] for name in missing))
    return (f"Qt cannot open a window on X11: {', '.join(missing)} missing; install with "
            f"`sudo apt install {packages}` (see README, Install)")


def open_monitor(args: argparse.Namespace) -> int:
    """The bare `painmon`: refuse in one line when Qt's X11 plugin cannot load (before Qt is imported, since
    its own libraries need some of them too), else open the monitor (`app.main_window.run_gui`)."""
    if (problem := xcb_problem()) is not None:
        raise PainmonError(problem)
    from app.main_window import run_gui

    return run_gui(args)
