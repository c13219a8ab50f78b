"""The installed Qt binding must not leak references of Python's singletons: the monitor emits signals and
calls void Qt methods many times a second for days (PySide6 6.12.0 on CPython 3.11 aborted after ~30k)."""

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel


class Emitter(QObject):
    changed = Signal(int)


def test_signals_and_void_calls_keep_none_and_true_alive(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    emitter = Emitter()
    before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(200):
        label.setText("x")
        emitter.changed.emit(1)
    after = sys.getrefcount(None), sys.getrefcount(True)
    assert after[0] >= before[0] - 20 and after[1] >= before[1] - 20, f"refcounts {before} -> {after}"
