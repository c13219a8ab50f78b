"""`painmon train export RUN`: the deployable checkpoint of a LOSO run, with its model card.

The deployable model is the run's all-subjects fit (`folds/final/`, trained by `painmon train loso` after the
held-out folds, or alone with `--folds final`); its card carries the data set, the config and the LOSO
metrics of the run's finished folds, which estimate how that recipe does on an unseen subject. The checkpoint
also carries the description of the faces of the run's data set (train.describe), so the monitor knows the
faces the model applies to.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.errors import PainmonError
from engine.model_onnx import beside
from engine.onnx_export import write_beside
from train.au_predictions import au_metrics_json, merge_fold_aus
from train.describe import describe_faces
from train.evaluate import evaluation_json, read_predictions
from train.fold import FINAL
from train.loop import resolve_device
from train.loso import read_json

SYNTHETIC_USE = ("demonstration and testing only: trained on synthetic faces rendered by painmon "
                 "(painmon train synth), not on patients. NOT FOR CLINICAL USE.")
RESEARCH_USE = ("research only: a pain-expression regressor trained on UNBC-McMaster shoulder-pain videos; "
                "not a medical device. NOT FOR CLINICAL USE.")


def export_run(run: Path, out: Path | None = None, data: Path | None = None) -> Path:
    """Write RUN's all-subjects model with a card (data, config, LOSO metrics) and the description of its
    training faces to `out`, and its ONNX graph beside it; return the checkpoint's path. `data`: the run's
    data set where it has moved since."""
    record_path = run / "run.json"
    if not record_path.exists():
        raise PainmonError(f"{run} is not a LOSO run folder (no run.json)")
    record = read_json(record_path, "run record")
    final = run / "folds" / FINAL / "model.safetensors"
    if not final.exists():
        raise PainmonError(f"{run} has no all-subjects model ({final}): run `painmon train loso` with "
                           f"--folds {FINAL} (the default runs it after the held-out folds)")
    predictions = run / "predictions.csv"
    if not predictions.exists():
        raise PainmonError(f"{run} has no finished held-out fold ({predictions})"
                           "; the card needs LOSO metrics")
    model, fold_card = load_checkpoint(final)
    evaluation = read_predictions(predictions).evaluate()
    metrics = evaluation_json(evaluation)
    folds = sorted(metrics.pop("per_subject"))
    source, recipe, synthetic = _described(record, record_path)
    card = fold_card
    card.name = f"painmon {'demo ' if synthetic else ''}regressor: {recipe}"
    card.version = datetime.now(UTC).strftime("%Y.%m.%d")
    card.trained_on = f"{source}; the deployed fit used {fold_card.trained_on}"
    card.clinical_use = False
    card.intended_use = SYNTHETIC_USE if synthetic else RESEARCH_USE
    card.metrics = {"protocol": "leave-one-subject-out, pain levels 0-5 (PSPI 0,1,2,3,4-5,>=6)",
                    "synthetic_data": synthetic, "held_out_subjects": folds, **metrics}
    aus = merge_fold_aus(run, folds)
    if aus is not None:  # an AU model: per-AU accuracy and F1 of the held-out folds
        card.metrics["aus"] = au_metrics_json(aus[0].scores(), aus[1])
    card.created = datetime.now(UTC).isoformat(timespec="seconds")
    data = data or Path(record["data"])
    if not data.is_dir():
        raise PainmonError(f"{run}'s data set is no longer at {data}: give its new place with --data")
    description, card.applicability = describe_faces(model, card, [data], device=resolve_device(None))
    out = out or run / "model.safetensors"
    save_checkpoint(out, model, card, description)
    load_checkpoint(out)  # what engine and the app will do
    write_beside(out)  # what a runtime without torch scores it with
    return out


def _described(record: Any, path: Path) -> tuple[str, str, bool]:
    """From a run record: what the run trained on ("source: N subjects, M frames"), its config's name and
    whether the data was the synthetic twin; PainmonError naming the file when the record lacks them."""
    try:
        twin = record["twin"]
        if twin is None:
            source = f"UNBC-McMaster Shoulder Pain Expression Archive at {record['data']}"
        else:
            source = (f"synthetic UNBC-McMaster twin (painmon train synth --subjects {twin['subjects']} "
                      f"--frames {twin['frames_per_subject']} --seed {twin['seed']})")
        text = f"{source}: {len(record['subjects'])} subjects, {record['frames']} frames"
        return text, str(record["config"]["name"]), twin is not None
    except (KeyError, TypeError) as error:
        raise PainmonError(f"{path} is not a run record of painmon train loso (no {error})") from None


def run(args: argparse.Namespace) -> int:
    """`painmon train export RUN [--out PATH] [--data DIR]`."""
    out = export_run(Path(args.run), Path(args.out) if args.out else None,
                     Path(args.data) if args.data else None)
    print(f"wrote {out} and {beside(out).name} beside it")
    return 0
