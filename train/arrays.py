"""Job arrays (SLURM, Kubernetes Indexed Jobs): a planned sweep or LOSO run, one fold per array index.

`painmon train loso|sweep ... --plan` prepares every run (records it, aligns every frame once), stages its
data (train.staging: one checksummed crop file per subject) and writes `plan.json` into the run or sweep
folder: each run's config, iterations, folds and staged data, and the units, one (run, fold) per index.
`painmon train fold FOLDER --index N` runs unit N (N from `SLURM_ARRAY_TASK_ID` or `JOB_COMPLETION_INDEX`
when not given) in its own process, straight into the shared run folder; a finished fold is not run again.
`painmon train merge FOLDER` evaluates every run (and compares them for a sweep).
Array tasks read only the plan and the staged data, and write their fold's folder: they need the run or
sweep folder on a file system they share (not the data set, nor painmon's cache folder).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from engine.errors import PainmonError
from engine.files import write_atomically
from train.config import config_from_dict
from train.fold import FoldInputs, done_marker
from train.grid import InProcess, run_grid
from train.loop import resolve_device
from train.loso import Run, jobs_of, merge_and_report, read_json
from train.staging import load_staged, stage
from train.sweep import RunSpec, finish_sweep, prepare_sweep, report_failures

PLAN = "plan.json"
INDEX_VARIABLES = ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")
"""Where an array task finds its index when `--index` is not given (SLURM, Kubernetes Indexed Jobs)."""


def plan_command(args: argparse.Namespace, specs: list[RunSpec], out: Path, *, sweep: bool) -> int:
    """Prepare the runs, stage their data and write `out/plan.json`; print the array size and the commands."""
    folds = args.folds or None
    runs, refused = prepare_sweep(Path(args.data), specs, folds=folds, iterations=args.iterations)
    if refused:
        raise PainmonError("; ".join(refused.values()))
    staged: dict[str, str] = {}
    for run in runs.values():
        if run.inputs_key not in staged:
            staged[run.inputs_key] = f"staged/{len(staged)}"
            stage(run.inputs, out / staged[run.inputs_key])
    units = [[number, fold] for number, run in enumerate(runs.values()) for fold in run.wanted]
    plan = {"sweep": sweep, "units": units, "runs": [
        {"name": spec.name, "out": os.path.relpath(spec.out, out), "config": spec.config.to_dict(),
         "iterations": run.iterations, "subjects": run.subjects, "folds": run.wanted,
         "staged": staged[run.inputs_key]} for spec, run in runs.items()]}
    write_atomically(out / PLAN, json.dumps(plan, indent=2))
    count = len(units)
    print(f"{count} folds planned in {out / PLAN}, data staged in {out / 'staged'}: run indices "
          f"0–{count - 1} with `painmon train fold {out} --index N` (sbatch --array=0-{count - 1}, or a "
          f"Kubernetes Indexed Job of {count} completions), then `painmon train merge {out}`")
    return 0


def _plan(folder: Path) -> dict[str, Any]:
    path = folder / PLAN
    if not path.exists():
        raise PainmonError(f"{folder} has no {PLAN}: make it with `painmon train loso|sweep ... --plan`")
    plan = read_json(path, "job-array plan")
    if not isinstance(plan, dict) or not {"runs", "units"} <= set(plan):
        raise PainmonError(f"{path} is not a job-array plan of painmon train loso|sweep --plan")
    return plan


def _runs(folder: Path, plan: dict[str, Any], numbers: list[int],
          folds: str | None = None) -> dict[RunSpec, Run]:
    """The planned runs `numbers` on their staged data (only `folds` when given)."""
    runs = {}
    loaded: dict[str, FoldInputs] = {}
    for number in numbers:
        entry = plan["runs"][number]
        config = config_from_dict(entry["config"], f"{folder / PLAN} run {entry['out']}")
        spec = RunSpec(entry["name"], config, (folder / entry["out"]).resolve())
        if entry["staged"] not in loaded:
            loaded[entry["staged"]] = load_staged(folder / entry["staged"])
        runs[spec] = Run(spec.config, spec.out, entry["iterations"], entry["subjects"],
                         [folds] if folds else entry["folds"], loaded[entry["staged"]], entry["staged"])
    return runs


def array_index(given: int | None) -> int:
    """`--index`, else the array index the scheduler set (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX)."""
    if given is not None:
        return given
    for variable in INDEX_VARIABLES:
        if os.environ.get(variable, "").isdigit():
            return int(os.environ[variable])
    raise PainmonError(f"no --index given and none of {', '.join(INDEX_VARIABLES)} is set")


def fold_command(args: argparse.Namespace) -> int:
    """`painmon train fold FOLDER [--index N] [--device D]`: run unit N of FOLDER's plan."""
    folder = Path(args.folder)
    plan, index = _plan(folder), array_index(args.index)
    if not 0 <= index < len(plan["units"]):
        raise PainmonError(f"index {index} is outside {folder / PLAN}'s {len(plan['units'])} units "
                           f"(0–{len(plan['units']) - 1})")
    number, fold = plan["units"][index]
    (spec, run), = _runs(folder, plan, [number], fold).items()
    jobs = jobs_of(run, f"unit {index}: {os.path.relpath(spec.out, folder)}")
    if not jobs:
        print(f"unit {index} ({fold} of {spec.out}) is already done")
        return 0
    executor = InProcess(resolve_device(args.device), progress=False)
    grid = run_grid(jobs, {run.inputs_key: run.inputs}, executor, retries=args.retries)
    return report_failures(grid.failed)


def merge_command(args: argparse.Namespace) -> int:
    """`painmon train merge FOLDER`: evaluate every run of FOLDER's plan (and compare them for a sweep)."""
    folder = Path(args.folder)
    plan = _plan(folder)
    runs = _runs(folder, plan, list(range(len(plan["runs"]))))
    for spec, run in runs.items():
        done = [f for f in run.wanted if done_marker(run.out / "folds" / f, f).exists()]
        print(f"{spec.out}: {len(done)} of {len(run.wanted)} folds done")
    if plan.get("sweep"):
        print(finish_sweep(runs, folder) or "no held-out subject finished yet")
    else:
        merge_and_report(*runs.values())
    return 0
