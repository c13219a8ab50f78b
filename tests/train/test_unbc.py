"""The UNBC-McMaster loader on a written twin: order, black frames, Kaggle nesting, damaged copies."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import hypothesis
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import PainmonError
from engine.pspi import pspi
from tests.helpers import examples, mostly
from train.synth import write_twin
from train.unbc import SUBJECTS, DatasetError, load_unbc, pspi_to_level, read_aam, read_facs, read_number

SUBJECT, SEQUENCE = "042-ll042", "ll042t1aaaff"


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_twin(tmp_path_factory.mktemp("twin") / "unbc", subjects=3, frames_per_subject=120, seed=5,
                      size=(128, 96), progress=False)


@pytest.fixture(scope="module")
def dataset(twin, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:  # module-wide, so conftest's per-test folders are not set yet
        patch.setenv("PAINMON_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return load_unbc(twin)


def test_reads_every_frame_with_its_labels(twin, dataset):
    assert dataset.root == twin
    assert dataset.subjects() == list(SUBJECTS[:3])
    assert len(dataset.frames) == 3 * 120 - 7
    for frame in dataset.frames:
        assert frame.level == pspi_to_level(frame.pspi)
        assert frame.pspi == pspi(frame.aus)  # the twin's PSPI files agree with its FACS files
        assert frame.image.is_file() and frame.aam.is_file()
    assert any(frame.aus.get(43) == 1.0 for frame in dataset.frames)  # coded without intensity, counts 1
    assert any(frame.aus and frame.pspi == 0 for frame in dataset.frames)  # distractor AUs only
    assert set(dataset.sequence_labels) == {f.sequence for f in dataset.frames}
    assert all(set(labels) == {"AFF", "OPR", "SEN", "VAS"} for labels in dataset.sequence_labels.values())
    assert sum(dataset.level_counts()) == len(dataset.frames)
    assert "353 frames, 3 subjects" in dataset.summary()


def test_frames_come_in_numeric_order(dataset):
    for subject in dataset.subjects():
        frames = dataset.by_subject(subject)
        assert all(f.subject == subject for f in frames)
        for sequence in {f.sequence for f in frames}:
            numbers = [f.frame for f in frames if f.sequence == sequence]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def test_unknown_subject_is_a_clear_error(dataset):
    with pytest.raises(DatasetError, match="no subject '999-xx999'"):
        dataset.by_subject("999-xx999")


def test_black_frames_are_found_by_their_pixels_and_dropped(twin, dataset):
    assert len(dataset.black_frames) == 7
    assert [p.name[-7:] for p in dataset.black_frames] == [f"{n:03d}.png" for n in range(1, 8)]
    kept = load_unbc(twin, drop_black=False)
    assert len(kept.frames) == len(dataset.frames) + 7 and kept.black_frames == []


def test_black_frame_answers_are_cached_and_refreshed_when_a_file_changes(twin, tmp_path):
    root = copy_of(twin, tmp_path)
    assert len(load_unbc(root).black_frames) == 7
    assert len(list(Path(os.environ["PAINMON_CACHE_DIR"], "unbc").glob("black-frames-*.json"))) == 1
    victim = frame_file(root, *IMAGE, number=9)
    cv2.imwrite(str(victim), np.zeros((96, 128, 3), np.uint8))
    again = load_unbc(root)
    assert len(again.black_frames) == 8 and victim in again.black_frames


def test_aam_landmarks_read_as_66_points(dataset):
    points = read_aam(dataset.frames[0].aam)
    assert points.shape == (66, 2) and points.dtype == np.float32
    assert (points[:, 0] > 0).all() and (points[:, 0] < 128).all()


def copy_of(twin: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(twin, tmp_path / "copy"))


def test_a_four_digit_frame_sorts_after_the_three_digit_ones(twin, tmp_path):
    root = copy_of(twin, tmp_path)
    last = sorted((root / "Images" / SUBJECT / SEQUENCE).glob("*.png"))[-1].stem
    renames = {
        root / "Images": ".png", root / "Frame_Labels" / "PSPI": "_facs.txt",
        root / "Frame_Labels" / "FACS": "_facs.txt", root / "AAM_landmarks": "_aam.txt",
    }
    for tree, suffix in renames.items():
        folder = tree / SUBJECT / SEQUENCE
        (folder / f"{last}{suffix}").rename(folder / f"{SEQUENCE}1000{suffix}")
    frames = [f.frame for f in load_unbc(root).frames if f.sequence == SEQUENCE]
    assert frames[-1] == 1000 and frames[:-1] == sorted(frames[:-1])  # not between 100 and 101


def link_tree(twin: Path, root: Path, doubled: bool) -> None:
    """A Kaggle-style copy of the twin made of symlinks, `X/X/...` when doubled."""
    for name in ("Images", "Frame_Labels", "AAM_landmarks", "Sequence_Labels"):
        target = root / name / name if doubled else root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(twin / name, target_is_directory=True)


@pytest.mark.parametrize("doubled", [True, False])
def test_kaggle_nestings_are_found(twin, dataset, tmp_path, doubled):
    link_tree(twin, tmp_path / "archive" / "UNBC-McMaster", doubled)
    found = load_unbc(tmp_path / "archive")  # the download folder, two levels above the data
    assert found.root == tmp_path / "archive" / "UNBC-McMaster"
    assert [(f.sequence, f.frame, f.pspi, f.aus) for f in found.frames] == [
        (f.sequence, f.frame, f.pspi, f.aus) for f in dataset.frames]
    assert found.sequence_labels == dataset.sequence_labels


def frame_file(root: Path, tree: str, suffix: str, number: int = 5) -> Path:
    return root / tree / SUBJECT / SEQUENCE / f"{SEQUENCE}{number:03d}{suffix}"


def remove(path: Path) -> None:
    path.unlink()


def scribble(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text)


PSPI = ("Frame_Labels/PSPI", "_facs.txt")
FACS = ("Frame_Labels/FACS", "_facs.txt")
AAM = ("AAM_landmarks", "_aam.txt")
IMAGE = ("Images", ".png")
DAMAGE = {
    "missing PSPI file": (*PSPI, remove, "missing PSPI label"),
    "garbage in a PSPI file": (*PSPI, scribble("zero\n"), "is not a number"),
    "two numbers in a PSPI file": (*PSPI, scribble("1 2\n"), "expected one number"),
    "garbage FACS line": (*FACS, scribble("   4.0000000e+00 x\n"), "is not a number"),
    "FACS line with one value": (*FACS, scribble("   6.0000000e+00\n"), "expected '<AU>"),
    "missing FACS file": (*FACS, remove, "missing FACS label"),
    "missing AAM file": (*AAM, remove, "missing AAM landmark file"),
    "damaged image": (*IMAGE, scribble("not a png"), "unreadable image"),
    "a 1×1 image": (*IMAGE, lambda path: cv2.imwrite(str(path), np.zeros((1, 1, 3), np.uint8)),
                    "image too small to be a video frame"),
    "AAM file of 65 points": (*AAM, scribble("1.0 2.0\n" * 65), r"expected 66 lines .*, found 65"),
    "AAM file of 67 points": (*AAM, scribble("1.0 2.0\n" * 67), r"expected 66 lines .*, found 67"),
    "AU beyond FACS": (*FACS, scribble("   9.9000000e+01   2.0000000e+00\n"), "AU 99 at intensity 2 is not"),
    "negative AU": (*FACS, scribble("  -4.0000000e+00   2.0000000e+00\n"), "is not a number >= 0"),
    "intensity beyond E": (*FACS, scribble("   4.0000000e+00   7.0000000e+00\n"), "AU 4 at intensity 7 is"),
    "PSPI beyond 16": (*PSPI, scribble("   1.7000000e+01\n"), "PSPI 17 is above 16"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_copy_fails_naming_the_file(twin, tmp_path, damage):
    tree, suffix, harm, message = DAMAGE[damage]
    root = copy_of(twin, tmp_path)
    victim = frame_file(root, tree, suffix)
    harm(victim)
    with pytest.raises(DatasetError, match=message) as error:
        load_unbc(root)
    assert str(victim) in str(error.value)
    assert isinstance(error.value, PainmonError)  # the command line prints it as one line, exit 2


def test_surplus_and_sequence_level_files_are_checked(twin, tmp_path):
    root = copy_of(twin, tmp_path)
    orphan = frame_file(root, *PSPI, number=999)
    orphan.write_text("   0.0000000e+00\n")
    with pytest.raises(DatasetError, match="unexpected PSPI label") as error:
        load_unbc(root)
    assert str(orphan) in str(error.value)
    orphan.unlink()
    label = root / "Sequence_Labels" / "OPR" / SUBJECT / f"{SEQUENCE}.txt"
    label.unlink()
    with pytest.raises(DatasetError, match="missing sequence label") as error:
        load_unbc(root)
    assert str(label) in str(error.value)


def test_malformed_aam_file_is_named(twin, tmp_path):
    root = copy_of(twin, tmp_path)
    aam = frame_file(root, *AAM)
    aam.write_text("1 2\n" * 65)
    with pytest.raises(DatasetError, match="expected 66 lines") as error:
        read_aam(aam)
    assert str(aam) in str(error.value)


def test_a_folder_without_the_archive_is_refused(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError, match="no UNBC-McMaster copy"):
        load_unbc(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        load_unbc(tmp_path / "nowhere")


# -- properties: whatever a label file holds, its reader gives a valid value or a DatasetError naming it --
TOKENS = st.one_of(st.floats().map(repr), st.integers(-3, 80).map(str), st.integers().map(str),
                   st.sampled_from(["0.0000000e+00", "4.3000000e+01", "1e39", "-0", "nan", "x", "1,5", "٣"]),
                   st.text(max_size=6))
"""What a token of a label file may be: numbers in the archive's notation, huge, negative, not numbers."""
COORDINATES = mostly(st.floats(-1000, 5000).map(repr), TOKENS, one_in=100)
"""A pixel coordinate, or once in 100 any token."""
LINES = st.lists(st.lists(TOKENS, min_size=1, max_size=3).map(" ".join), max_size=70).map("\n".join)


def read_or_refused(reader: Callable[[Path], Any], path: Path) -> Any:
    """What `reader` reads from `path`, or None when it refuses it with a DatasetError naming the file."""
    try:
        value = reader(path)
    except DatasetError as error:
        assert str(path) in str(error) and "\n" not in str(error)
        return None
    hypothesis.event("read")
    return value


@examples(500)
@given(st.binary(max_size=200) | LINES.map(str.encode) | TOKENS.map(lambda token: f"   {token}\n".encode()))
def test_any_pspi_or_sequence_label_file_is_a_number_or_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "label.txt"
    path.write_bytes(content)
    value = read_or_refused(read_number, path)
    assert value is None or (math.isfinite(value) and value >= 0)


@examples(500)
@given(st.binary(max_size=200) | LINES.map(str.encode)
       | st.lists(st.tuples(st.integers(0, 70), st.integers(0, 6)), max_size=8).map(
           lambda rows: "".join(f"{au:.7e} {level:.7e}\n" for au, level in rows).encode()))
def test_any_facs_file_is_aus_with_intensities_or_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "facs.txt"
    path.write_bytes(content)
    aus = read_or_refused(read_facs, path)
    assert aus is None or all(1 <= au <= 64 and 0 <= value <= 5 for au, value in aus.items())


@examples(300)
@given(st.binary(max_size=200) | LINES.map(str.encode)
       | mostly(st.just(66), st.integers(0, 80), one_in=4).flatmap(
           lambda lines: st.lists(st.tuples(COORDINATES, COORDINATES), min_size=lines, max_size=lines)).map(
           lambda rows: "".join(f"{x} {y}\n" for x, y in rows).encode()))
def test_any_aam_file_is_66_finite_points_or_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "aam.txt"
    path.write_bytes(content)
    points = read_or_refused(read_aam, path)
    assert points is None or (points.shape == (66, 2) and np.isfinite(points).all())
