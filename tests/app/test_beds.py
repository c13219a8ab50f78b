"""Bed configuration: first start, JSON round trip, atomic saves, validation messages, text normalised where
it enters, ids that never name a path, damaged files set aside at start-up, camera probing, and property tests
(Hypothesis): any bytes or JSON value loads as a valid ward or fails with one BedConfigError."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.alarms import AlarmConfig
from app.beds import (
    BED_ID,
    BedConfig,
    BedConfigError,
    Source,
    SourceKind,
    beds_path,
    list_cameras,
    load_beds,
    recover_beds,
    save_beds,
)
from engine.paths import data_dir


def ward() -> list[BedConfig]:
    return [
        BedConfig("Bed 1", Source.simulated(seed=7)),
        BedConfig("Bed 2", Source.camera(0), AlarmConfig(threshold=2.5, delay_s=15.0), patient="P-0042"),
        BedConfig("Bed 3", Source.file("/videos/ward 3.mp4"), record_video=True, loop_video=True),
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


def test_a_ward_saved_before_beds_could_loop_their_video_still_loads() -> None:
    file_bed = bed_json(source={"kind": "file", "location": "/v.mp4"})
    beds_path().write_text(json.dumps({"version": 1, "beds": [file_bed]}), encoding="utf-8")
    [bed] = load_beds()
    assert bed.source == Source.file("/v.mp4") and bed.loop_video is False  # plays once: 'video ended'
    save_beds([bed])
    assert json.loads(beds_path().read_text(encoding="utf-8"))["beds"][0]["loop_video"] is False


def test_duplicate_names_are_refused_on_save() -> None:
    beds = [BedConfig("Bed 1", Source.camera(0)), BedConfig("Bed 1", Source.camera(1))]
    with pytest.raises(BedConfigError, match="two beds have the same name: 'Bed 1'"):
        save_beds(beds)
    assert not beds_path().exists()


def bed_json(**changes: object) -> dict[str, object]:
    bed: dict[str, object] = {"id": "0123456789ab", "name": "Bed 9",
                              "source": {"kind": "camera", "location": "1"}, "alarms": {"threshold": 3}}
    bed.update(changes)
    return bed


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", r"not valid JSON \(line 1"),
    ({"version": 2, "beds": []}, "unsupported version 2"),
    ({"version": 1}, "the file lacks field.s. beds"),
    ({"version": 1, "beds": [bed_json(colour="red")]}, r"bed 1 \('Bed 9'\) has unknown field.s. 'colour'"),
    ({"version": 1, "beds": [bed_json(name="")]}, "bed name is empty"),
    ({"version": 1, "beds": [bed_json(alarms={"threshold": 7})]}, r"bed 1 \('Bed 9'\): threshold must be in"),
    ({"version": 1, "beds": [bed_json(alarms={"delay_s": "10"})]}, "delay_s must be float, got '10'"),
    ({"version": 1, "beds": [bed_json(record_video=1)]}, "record_video must be bool, got 1"),
    ({"version": 1, "beds": [bed_json(loop_video="yes")]}, "loop_video must be bool, got 'yes'"),
    ({"version": 1, "beds": [bed_json(loop_video=True)]}, "only a video file can loop, not a camera source"),
    ({"version": 1, "beds": [bed_json(source={"kind": "webcam"})]}, "source kind must be one of camera"),
    ({"version": 1, "beds": [bed_json(source={"kind": "camera", "location": "-1"})]}, "camera index must be"),
    ({"version": 1, "beds": [bed_json(source={"kind": "url", "location": "ftp://x"})]},
     "stream URL must start with rtsp://"),
    ({"version": 1, "beds": [bed_json(), bed_json(name="Bed 10")]},
     "two beds have the same id: '0123456789ab'"),
    ({"version": 1, "beds": [bed_json(id="../../../tmp/x")]}, "bed id must be 12 lowercase hex digits"),
    ({"version": 1, "beds": [bed_json(id="/etc/passwd")]}, "bed id must be 12 lowercase hex digits"),
    ({"version": 1, "beds": [bed_json(patient="P" * 65)]}, "patient label is longer than 64 characters"),
    ({"version": 1, "beds": [bed_json(source={"kind": "file", "location": "a\x00b.mp4"})]},
     "source location must be text without control characters"),
    ({"version": 1, "beds": [bed_json(source={"kind": "simulated", "seed": -1})]}, "seed must be 0–"),
    ("[" * 100_000, r"not valid JSON \(nested too deeply\)"),
    ('{"version": ' + "9" * 5000 + "}", r"not valid JSON \(Exceeds the limit"),
    (b"\x00\xff\xfe binary", r"not UTF-8 text \(byte 1\)"),
])
def test_invalid_files_give_one_clear_message(content: object, message: str) -> None:
    if isinstance(content, bytes):
        beds_path().write_bytes(content)
    else:
        beds_path().write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    with pytest.raises(BedConfigError, match=message) as info:
        load_beds()
    assert str(beds_path()) in str(info.value) and "\n" not in str(info.value)


def test_names_and_labels_are_normalised_where_they_enter() -> None:
    """A lone surrogate (valid JSON, not text: it cannot be saved or recorded) and control characters in a
    patient label or a bed name become one line of text; a BedConfig never holds them."""
    beds_path().write_text(json.dumps({"version": 1, "beds": [
        bed_json(name="Bed\t 9\x00\n", patient="\ud800 P-1\r\n")]}), encoding="utf-8")
    [bed] = load_beds()
    assert (bed.name, bed.patient) == ("Bed 9", "\ufffd P-1")
    save_beds([bed])
    assert load_beds() == [bed]
    for name, patient in (("Bed 1", "\ud800"), ("Bed\x001", ""), ("Bed\n1", ""), ("Bed 1", "a\x07")):
        with pytest.raises(ValueError, match="must be one line of text without control characters"):
            BedConfig(name, Source.camera(0), patient=patient)


@pytest.mark.parametrize("bed_id", ["../../../tmp/x", "/etc/cron.d/x", "ABCDEF012345", "0123456789a", "",
                                    "0123456789ab/..", "0123456789ab\x00"])
def test_bed_ids_are_twelve_hex_digits_never_a_path(bed_id: str) -> None:
    with pytest.raises(ValueError, match="bed id must be 12 lowercase hex digits"):
        BedConfig("Bed 1", Source.camera(0), bed_id=bed_id)
    assert BED_ID.fullmatch(BedConfig("Bed 1", Source.camera(0)).bed_id)


def test_a_damaged_file_is_set_aside_and_the_readable_beds_kept() -> None:
    good = [bed_json(id="0123456789ab", name="Bed 1"), bed_json(id="0123456789ac", name="Bed 3")]
    text = json.dumps({"version": 1, "beds": [good[0], bed_json(id="../x", name="Bed 2"), good[1],
                                              bed_json(id="0123456789ad", name="Bed 1"), "junk"]})
    beds_path().write_text(text, encoding="utf-8")
    beds, notice = recover_beds()
    assert [b.name for b in beds] == ["Bed 1", "Bed 3"] and load_beds() == beds  # a clean file saved
    [aside] = beds_path().parent.glob("beds.json.damaged-*")
    assert re.fullmatch(r"beds\.json\.damaged-\d{8}-\d{6}", aside.name) and aside.read_text() == text
    assert notice is not None and "\n" not in notice
    assert "bed id must be 12 lowercase hex digits" in notice and aside.name in notice
    assert "started with the 2 bed(s) that could be read" in notice

    beds_path().write_bytes(bytes(range(256)))  # binary: nothing to read
    beds, notice = recover_beds()
    assert beds == load_beds() and [b.source.kind for b in beds] == [SourceKind.SIMULATED]
    assert notice is not None and "not UTF-8 text" in notice and "the default ward" in notice
    assert len(list(beds_path().parent.glob("beds.json.damaged-*"))) == 2  # the first one is kept too
    assert recover_beds() == (beds, None)  # a good file is left alone


def test_a_bed_written_without_an_id_keeps_the_same_id_at_every_start() -> None:
    beds_path().write_text(json.dumps({"version": 1, "beds": [
        {"name": "Bed 1", "source": {"kind": "camera", "location": "0"}}]}))
    first = load_beds()
    assert load_beds() == first and BED_ID.fullmatch(first[0].bed_id)


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


# -- property tests: outside data never ends in another exception --------------------------------------------
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates and control characters too
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8)
SOURCES = [{"kind": "camera", "location": "0"}, {"kind": "simulated", "seed": 3},
           {"kind": "file", "location": "/v.mp4"}, {"kind": "url", "location": "rtsp://cam/s"}]
ALARMS = st.fixed_dictionaries({}, optional={"threshold": st.floats(0.5, 5.0), "delay_s": st.integers(0, 99)})
VALID_BED = st.fixed_dictionaries(
    {"name": st.sampled_from(["Bed 1", "Bed 2", "Bed 3"]) | TEXT, "source": st.sampled_from(SOURCES)},
    optional={"id": st.from_regex(r"[0-9a-f]{12}", fullmatch=True), "patient": TEXT,
              "record_video": st.booleans(), "alarms": ALARMS})
BED_FIELDS = ["id", "name", "patient", "source", "alarms", "record_video", "loop_video", "colour"]
ONE_BAD_FIELD = st.builds(lambda bed, key, value: {**bed, key: value}, VALID_BED, st.sampled_from(BED_FIELDS),
                          JSON | st.fixed_dictionaries({"kind": st.sampled_from(["camera", "file", "url"]),
                                                        "location": TEXT, "seed": st.integers()}))


def ward_of(beds: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"version": st.just(1), "beds": beds})


WARD = ward_of(st.lists(VALID_BED, max_size=3, unique_by=lambda bed: bed["name"]))
ANY_WARD = JSON | WARD | ward_of(st.lists(VALID_BED | ONE_BAD_FIELD, min_size=1, max_size=3)) | st.builds(
    lambda ward, key, value: {**ward, key: value}, WARD, st.sampled_from(["version", "beds", "colour"]), JSON)
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def loads_or_fails_cleanly(path: Path) -> None:
    """load_beds gives a valid ward that survives a round trip, or one BedConfigError naming the file."""
    try:
        beds = load_beds(path)
    except BedConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        event("refused")
        return
    event(f"loaded, {len(beds)} bed(s)")
    assert all(isinstance(bed, BedConfig) for bed in beds)
    copy = path.with_name("copy.json")
    save_beds(beds, copy)
    assert load_beds(copy) == beds


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("beds")


@PROPERTY
@given(content=st.binary(max_size=300))
def test_any_bytes_load_as_a_ward_or_one_bed_config_error(folder: Path, content: bytes) -> None:
    path = folder / "beds.json"
    path.write_bytes(content)
    loads_or_fails_cleanly(path)


@PROPERTY
@given(value=ANY_WARD)
def test_any_json_value_loads_as_a_ward_or_one_bed_config_error(folder: Path, value: Any) -> None:
    path = folder / "beds.json"
    path.write_text(json.dumps(value), encoding="utf-8")  # a lone surrogate written as \\udXXX: valid JSON
    loads_or_fails_cleanly(path)


@settings(PROPERTY, max_examples=200)
@given(value=st.binary(max_size=100) | ANY_WARD)
def test_start_up_recovery_never_fails(folder: Path, value: bytes | dict[str, Any]) -> None:
    path = folder / "recovered.json"
    path.write_bytes(value if isinstance(value, bytes) else json.dumps(value).encode())
    beds, _ = recover_beds(path)
    assert load_beds(path) == beds
