"""Bed configuration: first start, JSON round trip, atomic saves, validation messages, camera probing."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from app.alarms import AlarmConfig
from app.beds import (
    BedConfig,
    BedConfigError,
    Source,
    SourceKind,
    beds_path,
    list_cameras,
    load_beds,
    save_beds,
)
from engine.paths import data_dir


def ward() -> list[BedConfig]:
    return [
        BedConfig("Bed 1", Source.simulated(seed=7)),
        BedConfig("Bed 2", Source.camera(0), AlarmConfig(threshold=2.5, delay_s=15.0), patient="P-0042"),
        BedConfig("Bed 3", Source.file("/videos/ward 3.mp4"), record_video=True),
        BedConfig("Bed 4", Source.url("rtsp://10.0.0.8:554/stream1"),
                  AlarmConfig(no_face_delay_s=60.0, realarm_after_s=180.0)),
    ]


def test_first_start_gives_one_simulated_bed_in_the_data_dir() -> None:
    assert beds_path().parent == data_dir()
    assert not beds_path().exists()
    beds = load_beds()
    assert len(beds) == 1
    assert beds[0].source.kind is SourceKind.SIMULATED
    assert beds[0].record_video is False  # privacy: video recording is opt-in


def test_round_trip_keeps_every_field() -> None:
    beds = ward()
    save_beds(beds)
    assert load_beds() == beds
    data = json.loads(beds_path().read_text(encoding="utf-8"))
    assert data["version"] == 1 and [b["name"] for b in data["beds"]] == ["Bed 1", "Bed 2", "Bed 3", "Bed 4"]
    assert data["beds"][3]["source"] == {"kind": "url", "location": "rtsp://10.0.0.8:554/stream1", "seed": 0}


def test_save_replaces_the_file_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "beds.json"
    save_beds(ward()[:1], path)
    first_inode = path.stat().st_ino
    save_beds(ward(), path)
    assert path.stat().st_ino != first_inode  # a new file was renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["beds.json"]
    assert len(load_beds(path)) == 4


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "beds.json"
    save_beds(ward(), path)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)  # the disk fills up while the new file is written
    with pytest.raises(BedConfigError, match=r"cannot save bed configuration .* No space left on device"):
        save_beds(ward()[:2], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["beds.json"]


def test_duplicate_names_are_refused_on_save() -> None:
    beds = [BedConfig("Bed 1", Source.camera(0)), BedConfig("Bed 1", Source.camera(1))]
    with pytest.raises(BedConfigError, match="two beds have the same name: 'Bed 1'"):
        save_beds(beds)
    assert not beds_path().exists()


def bed_json(**changes: object) -> dict[str, object]:
    bed: dict[str, object] = {"id": "abc", "name": "Bed 9", "source": {"kind": "camera", "location": "1"},
                              "alarms": {"threshold": 3}}
    bed.update(changes)
    return bed


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", r"not valid JSON \(line 1"),
    ({"version": 2, "beds": []}, "unsupported version 2"),
    ({"version": 1}, "the file lacks field.s. beds"),
    ({"version": 1, "beds": [bed_json(colour="red")]}, r"bed 1 \('Bed 9'\) has unknown field.s. colour"),
    ({"version": 1, "beds": [bed_json(name="")]}, "bed name is empty"),
    ({"version": 1, "beds": [bed_json(alarms={"threshold": 7})]}, r"bed 1 \('Bed 9'\): threshold must be in"),
    ({"version": 1, "beds": [bed_json(alarms={"delay_s": "10"})]}, "delay_s must be float, got '10'"),
    ({"version": 1, "beds": [bed_json(record_video=1)]}, "record_video must be bool, got 1"),
    ({"version": 1, "beds": [bed_json(source={"kind": "webcam"})]}, "source kind must be one of camera"),
    ({"version": 1, "beds": [bed_json(source={"kind": "camera", "location": "-1"})]}, "camera index must be"),
    ({"version": 1, "beds": [bed_json(source={"kind": "url", "location": "ftp://x"})]},
     "stream URL must start with rtsp://"),
    ({"version": 1, "beds": [bed_json(), bed_json(name="Bed 10")]}, "two beds have the same id: 'abc'"),
])
def test_invalid_files_give_one_clear_message(content: object, message: str) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    beds_path().write_text(text, encoding="utf-8")
    with pytest.raises(BedConfigError, match=message) as info:
        load_beds()
    assert str(beds_path()) in str(info.value) and "\n" not in str(info.value)


def test_an_empty_ward_is_kept_empty() -> None:
    save_beds([])
    assert load_beds() == []


def test_sources_describe_themselves() -> None:
    assert Source.camera(2).describe() == "Camera 2"
    assert Source.file("/a/b/clip.mp4").describe() == "Video clip.mp4"
    assert Source.simulated(3).describe() == "Simulated patient (seed 3)"
    assert Source.url("http://cam/video").location == "http://cam/video"


def test_list_cameras_finds_every_camera_this_machine_has() -> None:
    cameras = list_cameras()
    assert all(isinstance(i, int) for i in cameras)
    if not list(Path("/dev").glob("video*")):
        assert cameras == []  # this machine has no camera
