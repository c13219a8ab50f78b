"""Staged data for job arrays: a run's fold inputs packed once, read by every array task without the data set.

`painmon train loso|sweep --plan` writes each distinct input (aligned crops and the frames' arrays) into
`staged/<n>/` of the run or sweep folder: one crop array per subject (`<subject>.npy`, uint8 n×h×w×3), the
per-frame arrays (`index.npz`: names, levels, AU intensities, face found, landmarks) and `manifest.json` with
every file's SHA-256. An array task reads these few files instead of the data set's tens of thousands of small
files (labels, images to fingerprint) over the network file system, and refuses a changed or damaged one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from engine.errors import PainmonError
from engine.files import file_sha256, replacing, write_atomically
from train.align_cache import PackedFrames
from train.fold import FoldInputs
from train.loso import read_json
from train.methods import Frames

MANIFEST = "manifest.json"
INDEX = "index.npz"


def _write(path: Path, save: Callable[[BinaryIO], object]) -> str:
    """Write a file atomically through `save`; its SHA-256."""
    with replacing(path) as scratch, scratch.open("wb") as handle:
        save(handle)
    return file_sha256(path)


def stage(inputs: FoldInputs, folder: Path) -> None:
    """Write `inputs` into `folder`: one crop file per subject, the frames' arrays, the checksums."""
    folder.mkdir(parents=True, exist_ok=True)
    frames, aligned = inputs.frames, inputs.aligned
    rows = np.arange(len(frames.subject))
    sums = {}
    for subject in np.unique(frames.subject):
        crops = aligned.crops(rows[frames.subject == subject])
        sums[f"{subject}.npy"] = _write(folder / f"{subject}.npy", partial(np.save, arr=crops))
    arrays = {"subject": frames.subject, "sequence": frames.sequence, "frame": frames.frame,
              "level": frames.level, "aus": frames.aus, "au_numbers": np.array(frames.au_numbers, np.int64),
              "found": aligned.found, "landmarks": aligned.landmarks}
    savez: Any = np.savez  # numpy's stubs take the arrays' names for its own keyword
    sums[INDEX] = _write(folder / INDEX, partial(savez, **arrays))
    manifest = {"crop_size": list(aligned.crop_size), "sha256": sums}
    write_atomically(folder / MANIFEST, json.dumps(manifest, indent=2))


def _checked(folder: Path, name: str, sums: dict[str, str]) -> Path:
    path = folder / name
    if name not in sums or not path.exists() or file_sha256(path) != sums[name]:
        raise PainmonError(f"{path} is missing or not what --plan staged (its SHA-256 differs from "
                           f"{folder / MANIFEST}): run the --plan command again")
    return path


def load_staged(folder: Path) -> FoldInputs:
    """The fold inputs staged in `folder`, every file checked against its checksum."""
    manifest = read_json(folder / MANIFEST, "staged data manifest")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise PainmonError(f"{folder / MANIFEST} is not a staged data manifest: run the --plan command again")
    sums = manifest["sha256"]
    with np.load(_checked(folder, INDEX, sums), allow_pickle=False) as index:
        arrays = {key: index[key] for key in index.files}
    frames = Frames(arrays["subject"], arrays["sequence"], arrays["frame"], arrays["level"],
                    tuple(int(a) for a in arrays["au_numbers"]), arrays["aus"])
    crop_size = (int(manifest["crop_size"][0]), int(manifest["crop_size"][1]))
    crops = np.empty((len(frames.subject), *crop_size, 3), dtype=np.uint8)
    for subject in np.unique(frames.subject):
        path = _checked(folder, f"{subject}.npy", sums)
        crops[frames.subject == subject] = np.load(path, allow_pickle=False)
    return FoldInputs(frames, PackedFrames(crops, arrays["found"], arrays["landmarks"], crop_size))
