"""Which feature space tells a model's training faces from faces it does not apply to: the figures behind
engine.applicability and the demo model's description.

    python benchmarks/applicability.py --model MODEL --train TWIN [--train TWIN ...] --held-out TWIN

For each candidate space of the model — the backbone's pooled features, the channel means of every stage,
and the texture of the early stages (engine.backbones: what painmon uses) — it describes the faces of the
--train data sets (calibrated on held-out groups of their subjects, engine.applicability.describe) and
reports: the threshold, the share of faces declared not applicable among the --held-out data set's faces
(another twin: new identities) and the simulated patient's (3 × 400 frames), the share of real faces (the
clips of FACTS.md §2, `make clips`) still declared applicable, and the ROC AUC of the applicability value
between held-out twin faces and real faces. Faces are found and aligned as the pipeline does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.applicability import APPLICABLE, Applicability, describe  # noqa: E402
from engine.checkpoint import load_checkpoint  # noqa: E402
from engine.model import PainRegressor  # noqa: E402
from engine.pipeline import Pipeline  # noqa: E402
from engine.simulated_patient import SimulatedPatient  # noqa: E402
from engine.sources import Frame, open_source  # noqa: E402
from train.align_cache import AlignSettings, build_cache  # noqa: E402
from train.unbc import load_unbc  # noqa: E402

CLIPS = ROOT / "tests" / "data" / "clips"
REAL = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov", "noface_face.mov")
Space = Callable[[PainRegressor, torch.Tensor], torch.Tensor]  # RGB 0..255 faces → features


def _stage_means(model: PainRegressor, x: torch.Tensor) -> torch.Tensor:
    means, x = [], (x - model.mean) / model.std
    for layer in list(model.backbone.children())[:-2]:  # the stages, before pooling and flattening
        x = layer(x)
        means.append(x.mean(dim=(2, 3)))
    return torch.cat(means, dim=1)


SPACES: dict[str, Space] = {
    "pooled backbone features": lambda model, x: model.backbone((x - model.mean) / model.std),
    "channel means of every stage": _stage_means,
    "texture of the early stages (painmon)": lambda model, x: model.forward_with_features(x)[1],
}


def twin_crops(root: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops of every face of a twin and their subjects (cached alignment)."""
    dataset = load_unbc(root, progress=False)
    cache = build_cache(dataset.frames, dataset.root, AlignSettings(size, 40), progress=False)
    rows = np.flatnonzero(cache.found)
    return cache.crops(rows), np.array([f"{root.name}/{dataset.frames[r].subject}" for r in rows])


def pipeline_crops(model: Path) -> dict[str, np.ndarray]:
    """Aligned crops of usable faces, as the pipeline sees them: real clips and the simulated patient."""
    pipeline = Pipeline.from_checkpoint(model, "onnx", keep_aligned=True)
    crops: dict[str, list[np.ndarray]] = {}

    def keep(name: str, frames: list[Frame]) -> None:
        pipeline.stream.reset()
        for frame in frames:
            result = pipeline.stream.locate(frame)
            if result.aligned is not None:
                crops.setdefault(name, []).append(result.aligned)

    for name in REAL:
        with open_source(CLIPS / name) as source:
            keep(name, list(source))
    for seed in (0, 1, 2):
        patient = SimulatedPatient(seed)
        keep("simulated patient", [Frame(f.index, f.timestamp, f.image) for f in patient.frames(400)])
    return {name: np.stack(found) for name, found in crops.items()}


@torch.no_grad()
def features(model: PainRegressor, space: Space, crops: np.ndarray) -> np.ndarray:
    parts = []
    for start in range(0, len(crops), 256):
        x = torch.from_numpy(np.ascontiguousarray(crops[start:start + 256])).permute(0, 3, 1, 2).float()
        parts.append(space(model, x).numpy())
    return np.concatenate(parts)


def roc_auc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(an outside face has a lower applicability than an inside one), ties half."""
    ranks = np.concatenate([inside, outside]).argsort().argsort() + 1.0
    below = ranks[len(inside):].sum() - len(outside) * (len(outside) + 1) / 2
    return 1.0 - below / (len(inside) * len(outside))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a pain regressor checkpoint")
    parser.add_argument("--train", required=True, action="append", help="data sets that describe it")
    parser.add_argument("--held-out", required=True, help="a twin of new identities (another seed)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model, card = load_checkpoint(args.model)
    assert isinstance(model, PainRegressor), "the benchmark reads a regressor's stages"
    trained = [twin_crops(Path(root), card.input_size) for root in args.train]
    train_crops, subjects = np.concatenate([c for c, _ in trained]), np.concatenate([s for _, s in trained])
    held_out = twin_crops(Path(args.held_out), card.input_size)[0]
    seen = pipeline_crops(Path(args.model))
    print(f"{len(train_crops)} faces of {len(set(subjects))} subjects describe {card.name}; held out "
          f"{len(held_out)} twin faces, {len(seen['simulated patient'])} simulated, "
          + ", ".join(f"{len(seen[name])} of {name}" for name in REAL))
    for label, space in SPACES.items():
        description: Applicability = describe(features(model, space, train_crops), subjects)
        twin = description.value(features(model, space, held_out))
        simulated = description.value(features(model, space, seen["simulated patient"]))
        real = {name: description.value(features(model, space, seen[name])) for name in REAL}
        everyone = np.concatenate(list(real.values()))
        outside_twin, outside_simulated = (twin < APPLICABLE).mean(), (simulated < APPLICABLE).mean()
        print(f"{label}: threshold {description.threshold:.1f}; not applicable: held-out twin "
              f"{100 * outside_twin:.1f} %, simulated {100 * outside_simulated:.1f} %;"
              f" real faces still applicable {100 * (everyone >= APPLICABLE).mean():.1f} % ("
              + ", ".join(f"{name} {100 * (v >= APPLICABLE).mean():.0f} %" for name, v in real.items())
              + f"); ROC AUC twin vs real {roc_auc(twin, everyone):.4f}")


if __name__ == "__main__":
    main()
