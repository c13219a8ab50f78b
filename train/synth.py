"""Synthetic twin of UNBC-McMaster (`painmon train synth`): rendered patients in the archive's exact layout.

Each subject is one recorded session of a rendered person (engine.face_render, animated by engine.expressions)
with pain episodes, distracting movements and small head motion, cut into range-of-motion sequences named like
the real ones (`042-ll042/ll042t1aaaff/ll042t1aaaff001.png`). The files copy the archive's quirks (FACTS.md
§3): labels in MATLAB's scientific notation, empty FACS files for frames without AUs, AU43 coded without
intensity, an OPR (not OPI) folder, 66-line AAM files, 3-digit frame numbers, a few black frames, one subject
(101-mg101) who never shows pain. Everything follows from the seed: the same arguments write the same files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from engine.expressions import ExpressionTimeline, HeadMotion
from engine.face_render import Identity, Pose, random_identity, render_face
from engine.pspi import pspi
from train.unbc import SEQUENCE_LABELS, SUBJECTS, DatasetError

TWIN_FPS = 30.0  # time base of the twin's sessions
TWIN_MEAN_GAP_S = 25.0  # mean neutral time between pain episodes: ~87 % of frames come out PSPI 0
STOIC_SUBJECT = "101-mg101"  # all-zero PSPI in the real archive
BLACK_SUBJECT = "095-tv095"  # has the real archive's 7 black frames (the twin's last subject if not included)
BLACK_FRAMES = 7
MIN_SEQUENCE = 10  # frames
MAX_FRAMES = 100_000  # per subject (the archive has about 2,000)
_SEQUENCE_LETTERS = "aefilnrstuy"


@dataclass(frozen=True)
class TwinSequence:
    """One sequence: per-frame AUs and head poses, leading black frames, sequence-level labels."""

    name: str
    aus: list[dict[int, float]]
    poses: list[Pose]
    black: int
    labels: dict[str, float]

    @property
    def pspi(self) -> list[float]:
        """Per-frame PSPI."""
        return [pspi(a) for a in self.aus]


@dataclass(frozen=True)
class TwinSubject:
    """One rendered person and their sequences."""

    name: str
    identity: Identity
    sequences: list[TwinSequence]


def plan_twin(subjects: int = 25, frames_per_subject: int = 2000, seed: int = 0) -> list[TwinSubject]:
    """Everything the twin will show, without rendering it (subject i depends only on seed and i)."""
    names = SUBJECTS[:subjects]
    black_subject = BLACK_SUBJECT if BLACK_SUBJECT in names else names[-1]
    return [_plan_subject(seed, i, frames_per_subject, names[i] == black_subject) for i in range(subjects)]


def write_twin(out: Path, subjects: int = 25, frames_per_subject: int = 2000, seed: int = 0,
               size: tuple[int, int] = (320, 240), *, progress: bool = True,
               workers: int | None = None) -> Path:
    """Render the twin into `out` (a new or empty folder) and return it.

    The files appear under `out` only when complete (they are written to `<out>.partial` first).
    workers: rendering processes (default: one per CPU, up to 8; 1 renders in this process).
    """
    _check_arguments(subjects, frames_per_subject, seed, size)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out} already exists and is not an empty folder; choose a new one")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)  # a previous interrupted run of this command
    plan = plan_twin(subjects, frames_per_subject, seed)
    jobs = [
        _Job(partial, subject.name, subject.identity, sequence, (int(size[0]), int(size[1])), (seed, i, 5, k))
        for i, subject in enumerate(plan)
        for k, sequence in enumerate(subject.sequences)
    ]
    total = subjects * frames_per_subject
    if workers is None:
        workers = 1 if total < 2000 else min(os.cpu_count() or 1, 8, len(jobs))
    with tqdm(total=total, desc="rendering twin", unit="frame", disable=not progress) as bar:
        if workers <= 1:
            for job in jobs:
                bar.update(_write_sequence(job))
        else:
            spawn = get_context("spawn")  # no fork of a process that may hold torch threads
            with ProcessPoolExecutor(workers, mp_context=spawn, initializer=_quiet_worker) as pool:
                for future in as_completed([pool.submit(_write_sequence, job) for job in jobs]):
                    bar.update(future.result())
    values = [v for subject in plan for sequence in subject.sequences for v in sequence.pspi[sequence.black:]]
    meta = {
        "synthetic_twin": True, "seed": seed, "subjects": subjects, "frames_per_subject": frames_per_subject,
        "size": list(size), "fps": TWIN_FPS, "frames": total,
        "black_frames": sum(s.black for subject in plan for s in subject.sequences),
        "pspi_zero_share": round(float(np.mean(np.array(values) == 0)), 4),
    }
    (partial / "twin.json").write_text(json.dumps(meta, indent=2) + "\n")
    if out.exists():
        out.rmdir()
    partial.rename(out)
    return out


def run(args: argparse.Namespace) -> int:
    """`painmon train synth OUT --subjects N --frames N --seed S --size W H`."""
    out = write_twin(Path(args.out), args.subjects, args.frames, args.seed, tuple(args.size))
    meta = json.loads((out / "twin.json").read_text())
    print(f"wrote {meta['frames']} frames of {meta['subjects']} subjects to {out} "
          f"({meta['pspi_zero_share']:.1%} PSPI 0, {meta['black_frames']} black frames)")
    return 0


# ------------------------------------------------------------------------------------------- planning


def _check_arguments(subjects: int, frames_per_subject: int, seed: int, size: tuple[int, int]) -> None:
    if not 1 <= subjects <= len(SUBJECTS):
        raise DatasetError(f"--subjects must be 1..{len(SUBJECTS)} (the archive's subjects), got {subjects}")
    if not MIN_SEQUENCE <= frames_per_subject <= MAX_FRAMES:
        raise DatasetError(f"--frames must be at least {MIN_SEQUENCE} and at most {MAX_FRAMES}, got "
                           f"{frames_per_subject}")
    if not 0 <= seed < 2**32:
        raise DatasetError(f"--seed must be 0..{2**32 - 1}, got {seed}")
    if not all(64 <= int(v) <= 4096 for v in size):
        raise DatasetError(f"--size must be 64..4096 pixels each way, got {size[0]} x {size[1]}")


def _plan_subject(seed: int, index: int, frames: int, has_black: bool) -> TwinSubject:
    def rng(stream: int) -> np.random.Generator:
        return np.random.default_rng([seed, index, stream])

    name = SUBJECTS[index]
    identity = random_identity(rng(0))
    character = rng(1)
    expressiveness = 0.0 if name == STOIC_SUBJECT else float(character.uniform(0.6, 1.2))
    first_gap = float(character.uniform(0.05, 0.5)) * min(TWIN_MEAN_GAP_S, frames / TWIN_FPS)
    timeline = ExpressionTimeline(rng(2), TWIN_FPS, TWIN_MEAN_GAP_S, expressiveness, first_gap)
    motion = HeadMotion(rng(3))
    aus = [next(timeline) for _ in range(frames)]
    poses = [motion(i / TWIN_FPS) for i in range(frames)]
    split = rng(4)
    lengths = _sequence_lengths(split, frames)
    names = _sequence_names(name.split("-")[1], len(lengths))
    black_at = min(len(lengths) - 1, len(lengths) // 2 + 1) if has_black else -1
    sequences = []
    start = 0
    for k, (length, sequence) in enumerate(zip(lengths, names, strict=True)):
        seq_aus = aus[start:start + length]
        black = min(BLACK_FRAMES, length // 3) if k == black_at else 0
        seq_aus[:black] = [{} for _ in range(black)]  # the real black frames are coded PSPI 0, no AUs
        peak = max(pspi(a) for a in seq_aus)
        sequences.append(TwinSequence(sequence, seq_aus, poses[start:start + length], black,
                                      _sequence_labels(split, peak)))
        start += length
    return TwinSubject(name, identity, sequences)


def _sequence_lengths(rng: np.random.Generator, frames: int) -> list[int]:
    """About 250 frames per sequence (the archive averages 242), at least two sequences when there is room."""
    count = 1 if frames < 4 * MIN_SEQUENCE else int(np.clip(math.ceil(frames / 250), 2, 12))
    spare = frames - count * MIN_SEQUENCE
    lengths = MIN_SEQUENCE + np.floor(rng.dirichlet(np.full(count, 4.0)) * spare).astype(int)
    lengths[: frames - int(lengths.sum())] += 1
    return lengths.tolist()


def _sequence_names(code: str, count: int) -> list[str]:
    """Names like ll042t1aaaff, ll042t2aeunaff: session t1 then t2, test letters, (un)affected side."""
    first = math.ceil(count / 2) if count > 1 else 1
    names = []
    for k in range(count):
        session, j = (1, k) if k < first else (2, k - first)
        names.append(f"{code}t{session}a{_SEQUENCE_LETTERS[j]}{'aff' if j % 2 == 0 else 'unaff'}")
    return names


def _sequence_labels(rng: np.random.Generator, peak: float) -> dict[str, float]:
    """Self-report (SEN, AFF 0..15; VAS 0..10) and observer (OPR 0..5) ratings that follow the peak PSPI."""
    scales = {"AFF": (0.8, 1.5, 15), "OPR": (0.33, 0.5, 5), "SEN": (1.0, 1.5, 15), "VAS": (0.7, 1.0, 10)}
    labels = {}
    for kind in SEQUENCE_LABELS:
        gain, noise, top = scales[kind]
        labels[kind] = float(np.clip(round(gain * peak + rng.normal(0, noise)), 0, top))
    return labels


# ------------------------------------------------------------------------------------------- writing


def _quiet_worker() -> None:
    cv2.setNumThreads(1)  # one process per core already


def _number(value: float) -> str:
    """A number as MATLAB's `save -ascii` writes it: '   4.0000000e+00'."""
    return f"{value:16.7e}"


@dataclass(frozen=True)
class _Job:
    """One sequence to render and write (picklable, for worker processes)."""

    root: Path
    subject: str
    identity: Identity
    sequence: TwinSequence
    size: tuple[int, int]
    noise_seed: tuple[int, ...]


def _write_sequence(job: _Job) -> int:
    """Render and write one sequence's images, frame labels and sequence labels; returns its frame count."""
    root, subject, sequence = job.root, job.subject, job.sequence
    noise = np.random.default_rng(job.noise_seed)
    folders = {
        "image": root / "Images" / subject / sequence.name,
        "pspi": root / "Frame_Labels" / "PSPI" / subject / sequence.name,
        "facs": root / "Frame_Labels" / "FACS" / subject / sequence.name,
        "aam": root / "AAM_landmarks" / subject / sequence.name,
    }
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    for number, (aus, pose) in enumerate(zip(sequence.aus, sequence.poses, strict=True), 1):
        stem = f"{sequence.name}{number:03d}"
        image, landmarks = render_face(job.identity, aus, job.size, pose, noise)
        if number <= sequence.black:
            image[:] = 0
        if not cv2.imwrite(str(folders["image"] / f"{stem}.png"), image):
            raise DatasetError(f"could not write {folders['image'] / f'{stem}.png'}")
        (folders["pspi"] / f"{stem}_facs.txt").write_text(_number(pspi(aus)) + "\n")
        facs = "".join(f"{_number(au)}{_number(0.0 if au == 43 else v)}\n" for au, v in sorted(aus.items()))
        (folders["facs"] / f"{stem}_facs.txt").write_text(facs)
        aam = "".join(f"{_number(x)}{_number(y)}\n" for x, y in landmarks)
        (folders["aam"] / f"{stem}_aam.txt").write_text(aam)
    for kind, value in sequence.labels.items():
        folder = root / "Sequence_Labels" / kind / subject
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{sequence.name}.txt").write_text(_number(value) + "\n")
    return len(sequence.aus)
