"""`painmon train ...` subcommands: synth, loso, sweep, fold, merge, evaluate, export, describe, saliency.

Handlers are imported only when their command runs, so `painmon --help` stays fast.
"""

from __future__ import annotations

import argparse

from engine.cli import lazy


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register `painmon train` and its actions on the root parser's subparsers."""
    train = sub.add_parser("train", help="synthetic data, LOSO training, evaluation and export")
    tsub = train.add_subparsers(dest="train_command", metavar="ACTION", required=True)

    synth = tsub.add_parser("synth", help="write a synthetic twin of UNBC-McMaster in its exact layout")
    synth.add_argument("out", help="folder to write (created)")
    synth.add_argument("--subjects", type=int, default=25)
    synth.add_argument("--frames", type=int, default=2000, help="frames per subject (about)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=int, nargs=2, default=(320, 240), metavar=("W", "H"),
                       help="frame size in pixels")
    synth.set_defaults(func=lazy("train.synth:run"))

    loso = tsub.add_parser("loso", help="leave-one-subject-out training and prediction")
    loso.add_argument("--data", required=True, help="UNBC-McMaster copy (or synthetic twin)")
    loso.add_argument("--config", required=True, help="training config (.toml), see train/configs/")
    loso.add_argument("--out", required=True, help="run folder (resumed if it exists)")
    _add_grid_options(loso)
    loso.set_defaults(func=lazy("train.sweep:loso_command"))

    sweep = tsub.add_parser("sweep", help="configs × solver seeds × LOSO folds, one comparison table")
    sweep.add_argument("--data", required=True, help="UNBC-McMaster copy (or synthetic twin)")
    sweep.add_argument("--config", required=True, nargs="+", help="training configs (.toml)")
    sweep.add_argument("--seeds", type=int, nargs="+", metavar="SEED",
                       help="solver seeds, each a run of every config (default: each config's own)")
    sweep.add_argument("--out", required=True, help="sweep folder: OUT/<config>/seed<s>/ runs (resumed)")
    _add_grid_options(sweep)
    sweep.set_defaults(func=lazy("train.sweep:sweep_command"))

    fold = tsub.add_parser("fold", help="job arrays: run one fold of a --plan'ned run or sweep")
    fold.add_argument("folder", help="run or sweep folder with plan.json")
    fold.add_argument("--index", type=int,
                      help="unit to run (default: SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX)")
    fold.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    fold.add_argument("--retries", type=int, default=1, help="attempts after a failed one")
    fold.set_defaults(func=lazy("train.arrays:fold_command"))

    merge = tsub.add_parser("merge", help="job arrays: evaluate (and compare) the runs of a plan")
    merge.add_argument("folder", help="run or sweep folder with plan.json")
    merge.set_defaults(func=lazy("train.arrays:merge_command"))

    evaluate = tsub.add_parser("evaluate", help="the papers' metrics, tables and plots for a predictions CSV")
    evaluate.add_argument("predictions", help="CSV with subject, sequence, frame, label, prediction")
    evaluate.add_argument("--json", dest="json_out", help="write the numbers as JSON here")
    evaluate.add_argument("--report", help="folder for the Markdown table and per-subject plots")
    evaluate.set_defaults(func=lazy("train.evaluate:run"))

    export = tsub.add_parser("export", help="write a deployable checkpoint with its model card")
    export.add_argument("run", help="LOSO run folder")
    export.add_argument("--out", help="checkpoint to write (default: RUN/model.safetensors)")
    export.add_argument("--data", help="the run's data set, if it has moved since the run")
    export.set_defaults(func=lazy("train.export:run"))

    describe = tsub.add_parser("describe", help="add the description of a model's training faces to it")
    describe.add_argument("model", help="painmon checkpoint (.safetensors)")
    describe.add_argument("--data", required=True, action="append",
                          help="data set it was trained on (UNBC-McMaster layout); repeat for several")
    describe.add_argument("--out", required=True, help="checkpoint to write (may be MODEL)")
    describe.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    describe.set_defaults(func=lazy("train.describe:run"))

    saliency = tsub.add_parser("saliency", help="a face's saliency map (paper 002's deconvnet) as a PNG")
    saliency.add_argument("--model", required=True, help="painmon checkpoint of a pain regressor")
    saliency.add_argument("--image", required=True, help="photo with a face (the largest nearest the centre)")
    saliency.add_argument("--out", required=True, help="PNG to write: aligned face | saliency heat map")
    saliency.add_argument("--size", type=int, nargs=2, metavar=("H", "W"),
                          help="aligned crop size in pixels (default: the model's input size)")
    saliency.set_defaults(func=lazy("train.saliency_png:run"))


def _add_grid_options(parser: argparse.ArgumentParser) -> None:
    """Folds, iterations and where the folds run: the options `loso` and `sweep` share."""
    parser.add_argument("--folds", nargs="*", help="held-out subjects to run, and/or final (default: all)")
    parser.add_argument("--iterations", type=int, help="override the config's iteration count")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    parser.add_argument("--jobs", type=int, default=1, help="folds at once in local worker processes")
    parser.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                        help="every fold a Ray task (cluster ADDRESS; bare: RAY_ADDRESS or a local one)")
    parser.add_argument("--cpus-per-fold", type=float, default=1.0, help="Ray: CPUs (torch threads) per fold")
    parser.add_argument("--gpus-per-fold", type=float, default=0.0,
                        help="Ray: GPUs per fold (a fraction packs folds onto one GPU; > 0 trains on CUDA)")
    parser.add_argument("--retries", type=int, default=1, help="attempts after a fold's failed one")
    parser.add_argument("--plan", action="store_true",
                        help="prepare only, for job arrays: write plan.json (then train fold / merge)")
