"""Live simulated patients drawn in one helper process, so that drawing them does not hold the monitor's GIL.

Drawing a simulated patient's frame is about 3.5 ms of mostly Python (engine.face_render), which holds the
interpreter lock; a ward of 12 simulated beds drawn in the monitor's own threads left its inference thread a
fair share of the lock too small to keep up (benchmarks/monitor.py: 1.6 fps per bed, GUI p95 1 s). A camera's
frames are decoded outside Python; a simulated bed's now come the same way: one renderer process (started
on first use, shared by all live simulated sources) draws each source's patient and sends the frame back
through a pipe. The renderer ends when the monitor's process does (its pipe closes); a renderer that died is
started again by the next source that opens.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection

import numpy as np

from engine.errors import VideoSourceError
from engine.simulated_patient import SimulatedPatient

Request = tuple[int, int, float, tuple[int, int]]  # source id, seed, fps, (width, height); seed -1: forget id


class PatientRenderer:
    """The parent's end of the renderer process (thread-safe: one request at a time)."""

    _shared: PatientRenderer | None = None
    _shared_lock = threading.Lock()

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a process that runs Qt and threads
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_serve, args=(child,), name="painmon-patients", daemon=True)
        self.process.start()
        child.close()
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> PatientRenderer:
        """The running renderer, started (again) when there is none or it has died."""
        with cls._shared_lock:
            if cls._shared is None or not cls._shared.process.is_alive():
                cls._shared = cls()
            return cls._shared

    def frame(self, source: int, seed: int, fps: float, size: tuple[int, int]) -> np.ndarray:
        """The next BGR frame of source `source`'s patient (seed, fps, size (width, height))."""
        try:
            with self._lock:
                self._conn.send((source, seed, fps, size))
                data = self._conn.recv_bytes()
        except (EOFError, OSError) as error:
            why = error or 'closed'
            raise VideoSourceError(f"the simulated patients' renderer stopped ({why})") from None
        return np.frombuffer(data, np.uint8).reshape(size[1], size[0], 3)

    def forget(self, source: int) -> None:
        """Free a closed source's patient in the renderer (nothing if the renderer is gone)."""
        try:
            with self._lock:
                self._conn.send((source, -1, 0.0, (0, 0)))
        except OSError:
            pass


def _serve(conn: Connection) -> None:
    """The renderer process: draw the next frame of each asking source's patient until the pipe closes."""
    patients: dict[int, SimulatedPatient] = {}
    while True:
        try:
            source, seed, fps, size = conn.recv()
        except (EOFError, OSError):
            return
        if seed < 0:
            patients.pop(source, None)
            continue
        patient = patients.get(source)
        if patient is None:
            patient = patients[source] = SimulatedPatient(seed, fps, size)
        conn.send_bytes(patient.read()[2].tobytes())


class RemotePatient:
    """A live simulated patient drawn by the renderer process, paced like a camera: `read` returns each
    frame when it is due (index / fps after the first)."""

    _ids = itertools.count()

    def __init__(self, seed: int, fps: float = 15.0, size: tuple[int, int] = (640, 360)) -> None:
        self.seed, self.fps, self.size = seed, fps, (int(size[0]), int(size[1]))
        self._id = next(self._ids)
        self._renderer = PatientRenderer.shared()
        self._index = -1
        self._started: float | None = None

    def read(self) -> tuple[int, float, np.ndarray]:
        """Next frame as (frame index, timestamp in seconds, BGR image); VideoSourceError when the
        renderer has stopped."""
        self._index += 1
        timestamp = self._index / self.fps
        now = time.monotonic()
        if self._started is None:
            self._started = now
        time.sleep(max(0.0, self._started + timestamp - now))
        return self._index, timestamp, self._renderer.frame(self._id, self.seed, self.fps, self.size)

    def close(self) -> None:
        """Free this patient in the renderer."""
        self._renderer.forget(self._id)
