"""The synthetic twin on disk: UNBC-McMaster's layout and quirks, determinism, label statistics, command."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.pspi import pspi, pspi_to_level
from tests.helpers import run_painmon
from train.synth import plan_twin, write_twin
from train.unbc import SUBJECTS

SCI = r"\s+-?\d\.\d{7}e[+-]\d{2}"  # MATLAB save -ascii: '   4.0000000e+00'


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_twin(tmp_path_factory.mktemp("twin") / "unbc", subjects=3, frames_per_subject=150, seed=7,
                      size=(160, 120), progress=False)


def files(root: Path, pattern: str) -> list[Path]:
    return sorted(root.glob(pattern))


def test_layout_mirrors_the_archive(twin):
    assert sorted(p.name for p in twin.iterdir()) == [
        "AAM_landmarks", "Frame_Labels", "Images", "Sequence_Labels", "twin.json"]
    assert sorted(p.name for p in (twin / "Frame_Labels").iterdir()) == ["FACS", "PSPI"]
    assert sorted(p.name for p in (twin / "Sequence_Labels").iterdir()) == ["AFF", "OPR", "SEN", "VAS"]
    assert sorted(p.name for p in (twin / "Images").iterdir()) == list(SUBJECTS[:3])
    images = files(twin, "Images/*/*/*.png")
    assert len(images) == 3 * 150
    for image in images:
        subject, sequence = image.parts[-3:-1]
        assert re.fullmatch(r"[a-z]{2}\d{3}t[12]a[a-z](aff|unaff)", sequence)
        assert sequence.startswith(subject.split("-")[1])
        assert re.fullmatch(re.escape(sequence) + r"\d{3}\.png", image.name)  # 3-digit frame numbers from 001
        stem = image.stem
        for label in (twin / "Frame_Labels" / "PSPI" / subject / sequence / f"{stem}_facs.txt",
                      twin / "Frame_Labels" / "FACS" / subject / sequence / f"{stem}_facs.txt",
                      twin / "AAM_landmarks" / subject / sequence / f"{stem}_aam.txt"):
            assert label.is_file()
    numbers = sorted(int(p.stem[-3:]) for p in images if p.parent == images[0].parent)
    assert numbers == list(range(1, len(numbers) + 1))
    sequences = {p.parent.name for p in images}
    for kind in ("AFF", "OPR", "SEN", "VAS"):
        assert {p.stem for p in files(twin / "Sequence_Labels" / kind, "*/*.txt")} == sequences


def test_label_files_have_the_archive_quirks(twin):
    for label in files(twin, "Frame_Labels/PSPI/*/*/*_facs.txt"):
        assert re.fullmatch(SCI + r"\n", label.read_text())
    facs = files(twin, "Frame_Labels/FACS/*/*/*_facs.txt")
    contents = [f.read_text() for f in facs]
    assert any(c == "" for c in contents), "no empty FACS file"
    for content in contents:
        assert re.fullmatch(rf"({SCI}{SCI}\n)*", content)
    au43 = [c for c in contents if re.search(r"^\s+4\.3000000e\+01", c, re.MULTILINE)]
    assert au43, "no AU43 in the twin"
    assert all(re.search(r"^\s+4\.3000000e\+01\s+0\.0000000e\+00$", c, re.MULTILINE) for c in au43)
    for aam in files(twin, "AAM_landmarks/*/*/*_aam.txt")[::25]:
        lines = aam.read_text().splitlines()
        assert len(lines) == 66 and all(re.fullmatch(SCI + SCI, line) for line in lines)
    for label in files(twin, "Sequence_Labels/*/*/*.txt"):
        assert re.fullmatch(SCI + r"\n", label.read_text())


def test_pspi_files_follow_the_facs_codes(twin):
    for facs in files(twin, "Frame_Labels/FACS/*/*/*_facs.txt"):
        rows = [line.split() for line in facs.read_text().splitlines()]
        aus = {int(float(au)): (1.0 if int(float(au)) == 43 else float(v)) for au, v in rows}
        pspi_file = twin / "Frame_Labels" / "PSPI" / facs.relative_to(twin / "Frame_Labels" / "FACS")
        assert float(pspi_file.read_text()) == pspi(aus)


def test_a_few_frames_are_black(twin):
    black = [p for p in files(twin, "Images/*/*/*.png") if cv2.imread(str(p)).max() == 0]
    assert len(black) == 7
    assert {p.parent for p in black} == {black[0].parent}  # the start of one sequence, like the archive
    assert sorted(int(p.stem[-3:]) for p in black) == list(range(1, 8))
    assert black[0].parts[-3] == SUBJECTS[2]  # 095-tv095 has them; without it, the last subject


def test_rendered_frames_are_faces_of_different_people(twin):
    firsts = [cv2.imread(str(files(twin / "Images" / s, "*/*001.png")[0])) for s in SUBJECTS[:3]]
    assert all(f.shape == (120, 160, 3) for f in firsts)
    assert all(f.std() > 20 for f in firsts)
    pairs = [firsts[:2], firsts[1:], firsts[::2]]
    assert min(np.abs(a.astype(int) - b.astype(int)).mean() for a, b in pairs) > 10


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_twin_whatever_the_worker_count(tmp_path):
    def small(name: str, seed: int, workers: int = 1) -> Path:
        return write_twin(tmp_path / name, subjects=2, frames_per_subject=40, seed=seed, size=(96, 72),
                          progress=False, workers=workers)

    one, two, other = small("a", 3), small("b", 3, workers=2), small("c", 4)
    assert tree(one) == tree(two)
    assert tree(one) != tree(other)
    assert not (tmp_path / "a.partial").exists()


@pytest.mark.parametrize("seed", [0, 1])
def test_full_size_twin_is_mostly_pain_free_like_the_archive(seed):
    """25 subjects × 2000 frames (planned, not rendered): 85–90 % PSPI 0, every level present."""
    plan = plan_twin(25, 2000, seed)
    levels = np.array([pspi_to_level(pspi(a)) for s in plan for q in s.sequences for a in q.aus[q.black:]])
    assert 0.85 <= np.mean(levels == 0) <= 0.90
    counts = np.bincount(levels, minlength=6)
    assert (counts[1:] > 200).all(), counts
    assert counts[1] > counts[5]  # mild pain is commoner than the worst
    by_subject = {s.name: max(pspi(a) for q in s.sequences for a in q.aus) for s in plan}
    assert by_subject.pop("101-mg101") == 0  # the archive's subject without pain
    assert min(by_subject.values()) >= 3  # everyone else has at least one clear episode
    sequences = [q for s in plan for q in s.sequences]
    assert 150 <= len(sequences) <= 250 and sum(len(q.aus) for q in sequences) == 50_000


def test_command_writes_a_twin_with_progress_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "twin"
    small = ("--subjects", "2", "--frames", "30", "--size", "96", "72")
    result = run_painmon("train", "synth", str(out), *small)
    assert result.returncode == 0, result.stderr
    assert "wrote 60 frames of 2 subjects" in result.stdout
    assert "rendering twin" in result.stderr and "100%" in result.stderr  # tqdm's bar
    assert len(files(out, "Images/*/*/*.png")) == 60
    again = run_painmon("train", "synth", str(out), *small)
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--subjects", "26"], "--subjects must be 1..25"),
    (["--frames", "3"], "--frames must be at least"),
    (["--frames", "1000000"], "--frames must be at least 10 and at most 100000, got 1000000"),
    (["--seed", "-1"], "--seed must be 0..4294967295, got -1"),
    (["--size", "32", "24"], "--size must be"),
])
def test_command_rejects_bad_arguments_with_one_line(tmp_path, args, message):
    result = run_painmon("train", "synth", str(tmp_path / "twin"), *args)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "twin").exists()
