"""Live simulated patients drawn in the renderer process (engine.patient_process): the same frames as
drawn in-process, paced like a camera, each source its own patient, and a renderer that dies or outlives
its parent handled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import VideoSourceError
from engine.patient_process import PatientRenderer, RemotePatient
from engine.simulated_patient import SimulatedPatient
from engine.sources import open_source
from tests.helpers import ROOT


def test_a_live_simulated_source_shows_the_in_process_patient_paced_like_a_camera():
    source = open_source("simulated:3")
    reference, other = SimulatedPatient(3), SimulatedPatient(3)
    start = time.monotonic()
    frames = [source.read() for _ in range(8)]
    elapsed = time.monotonic() - start
    second = open_source("simulated:3")  # a second bed with the same seed: its own patient from frame 0
    try:
        for frame in frames:
            index, _, image = reference.read()
            assert frame.index == index and np.array_equal(frame.image, image)
        assert np.array_equal(second.read().image, other.read()[2])
    finally:
        source.close()
        second.close()
    assert elapsed >= 7 / 15 - 0.01  # the 8th frame is due 7/15 s after the first


def test_a_killed_renderer_is_a_lost_source_and_the_next_open_starts_another():
    source = open_source("simulated:1")
    source.read()
    renderer = PatientRenderer.shared()
    os.kill(renderer.process.pid, signal.SIGKILL)
    renderer.process.join(10)
    with pytest.raises(VideoSourceError, match="renderer stopped"):
        source.read()
    source.close()
    again = open_source("simulated:1")
    try:
        assert again.read().image.shape == (360, 640, 3)
        assert PatientRenderer.shared().process.pid != renderer.process.pid
    finally:
        again.close()


def test_the_renderer_ends_with_the_process_that_started_it():
    """A monitor killed with SIGKILL leaves no renderer behind: its pipe closes and the renderer exits."""
    code = ("from engine.patient_process import RemotePatient, PatientRenderer; RemotePatient(0).read(); "
            "print(PatientRenderer.shared().process.pid, flush=True); import time; time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait(30)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie waiting for its reaper counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_remote_patient_closes_its_patient_in_the_renderer():
    patient = RemotePatient(5, size=(96, 72))
    assert patient.read()[2].shape == (72, 96, 3)
    patient.close()
    assert PatientRenderer.shared().process.is_alive()
