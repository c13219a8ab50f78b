"""Running a grid of folds (train.fold units of one or more LOSO runs) on an executor, with retries and
live progress.

An executor shares each run's data with its workers once (`start`), then runs one job per `submit`,
returning a future of `FoldDone`. The executors here run folds in this process (one after another, writing
the run folder directly, snapshots included) or in N local worker processes (which map the aligned-face
cache of this machine); train.cluster's runs them as Ray tasks. A fold that raises is submitted again up to
`retries` times (unless it raised a PainmonError: bad input or diverged training, which another attempt
repeats), then reported with its error while the others go on. Folds already done are not jobs.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Protocol

import torch

from engine.errors import PainmonError
from train.fold import FoldInputs, FoldUnit, run_fold, write_fold_files


@dataclass(frozen=True)
class Job:
    """One fold of one run: its unit, its run folder and which of the grid's inputs it reads."""

    unit: FoldUnit
    run: Path
    inputs: str  # key into the inputs given to the executor
    label: str  # how progress lines name it

    @property
    def folder(self) -> Path:
        """The fold's folder in its run."""
        return self.run / "folds" / self.unit.fold


@dataclass(frozen=True)
class FoldDone:
    """A finished job: the fold's files when the executor could not write the run folder itself (None when
    it did), and the seconds the fold took where it ran."""

    files: dict[str, bytes] | None
    seconds: float


@dataclass(frozen=True)
class Failure:
    """A job that failed on every attempt: the last attempt's error."""

    job: Job
    error: str


@dataclass
class GridResult:
    """What a grid did: the jobs that finished (with seconds where they ran and as the driver saw them)
    and the ones that failed."""

    done: dict[Job, tuple[float, float]] = field(default_factory=dict)
    failed: list[Failure] = field(default_factory=list)


class Executor(Protocol):
    """Runs fold jobs: `start` once with the grid's inputs, then `submit` jobs, at most `slots()` at once."""

    def start(self, inputs: dict[str, FoldInputs]) -> None: ...

    def slots(self) -> int: ...

    def submit(self, job: Job) -> Future[FoldDone]: ...

    def close(self) -> None: ...


def timed_fold(job: Job, inputs: FoldInputs, folder: Path, *, device: torch.device, progress: bool) -> float:
    """Run the job's fold into `folder`; return the seconds it took."""
    start = time.perf_counter()
    run_fold(job.unit, inputs, folder, device=device, label=job.label, progress=progress)
    return time.perf_counter() - start


class InProcess:
    """Folds one after another in this process, straight into the run folder."""

    def __init__(self, device: torch.device, *, progress: bool = True) -> None:
        self.device, self.progress = device, progress
        self.inputs: dict[str, FoldInputs] = {}

    def start(self, inputs: dict[str, FoldInputs]) -> None:
        self.inputs = inputs

    def slots(self) -> int:
        return 1

    def submit(self, job: Job) -> Future[FoldDone]:
        future: Future[FoldDone] = Future()
        try:
            seconds = timed_fold(job, self.inputs[job.inputs], job.folder, device=self.device,
                                 progress=self.progress)
        except Exception as error:
            future.set_exception(error)
        else:
            future.set_result(FoldDone(None, seconds))
        return future

    def close(self) -> None:
        pass


_process_state: dict[str, object] = {}  # a worker process's inputs and device


def _init_process(inputs: dict[str, FoldInputs], device: torch.device, threads: int) -> None:
    torch.set_num_threads(threads)
    _process_state.update(inputs=inputs, device=device)


def _process_fold(job: Job) -> FoldDone:
    inputs: dict[str, FoldInputs] = _process_state["inputs"]  # type: ignore[assignment]
    device: torch.device = _process_state["device"]  # type: ignore[assignment]
    return FoldDone(None, timed_fold(job, inputs[job.inputs], job.folder, device=device, progress=False))


class Processes:
    """Folds in `jobs` worker processes of this machine (spawned: no CUDA state is forked), each writing its
    fold's folder of the run directly; `threads` torch threads each."""

    def __init__(self, jobs: int, device: torch.device, *, threads: int = 1) -> None:
        self.jobs, self.device, self.threads = jobs, device, threads
        self.pool: ProcessPoolExecutor | None = None

    def start(self, inputs: dict[str, FoldInputs]) -> None:
        self.pool = ProcessPoolExecutor(self.jobs, mp_context=get_context("spawn"), initializer=_init_process,
                                        initargs=(inputs, self.device, self.threads))

    def slots(self) -> int:
        return self.jobs

    def submit(self, job: Job) -> Future[FoldDone]:
        assert self.pool is not None, "start() first"
        return self.pool.submit(_process_fold, job)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def describe_error(error: BaseException) -> str:
    """One line: the exception's type and message (the last line of a remote traceback)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


class Progress:
    """Live progress lines of a grid: each fold's end (its time, or its error) with the grid's counts."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self.done = self.failed = self.running = 0

    def line(self, text: str) -> None:
        if self.enabled:
            counts = (f"[{self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
                      f"{self.total - self.done - self.failed - self.running} waiting]")
            print(f"{counts} {text}", flush=True)


def run_grid(jobs: list[Job], inputs: dict[str, FoldInputs], executor: Executor, *, retries: int = 1,
             progress: bool = True) -> GridResult:
    """Run every job on `executor` (at most its slots at once), retrying a failed one `retries` times;
    the driver writes the files an executor sends back. Returns what finished and what failed."""
    result, shown = GridResult(), Progress(len(jobs), enabled=progress)
    waiting = [(job, 1) for job in jobs]
    running: dict[Future[FoldDone], tuple[Job, int, float]] = {}
    executor.start(inputs)
    try:
        while waiting or running:
            while waiting and len(running) < max(1, executor.slots()):
                job, attempt = waiting.pop(0)
                running[executor.submit(job)] = (job, attempt, time.perf_counter())
                shown.running = len(running)
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                job, attempt, started = running.pop(future)
                shown.running = len(running)
                _settle(future, job, attempt, time.perf_counter() - started, retries=retries, result=result,
                        waiting=waiting, shown=shown)
    finally:
        executor.close()
    return result


def _settle(future: Future[FoldDone], job: Job, attempt: int, wall: float, *, retries: int,
            result: GridResult, waiting: list[tuple[Job, int]], shown: Progress) -> None:
    """Record one finished attempt: write what came back, or retry or report the failure."""
    error = future.exception()
    if error is None:
        done = future.result()
        if done.files is not None:
            write_fold_files(job.folder, job.unit.fold, done.files)
        result.done[job] = (done.seconds, wall)
        shown.done += 1
        shown.line(f"{job.label}: done in {done.seconds:.1f} s ({wall:.1f} s as the driver saw it)")
        return
    if not isinstance(error, Exception):
        raise error
    if attempt <= retries and not isinstance(error, PainmonError):  # painmon's own errors do not pass by
        waiting.insert(0, (job, attempt + 1))
        shown.line(f"{job.label}: attempt {attempt} failed ({describe_error(error)}); retrying")
        return
    result.failed.append(Failure(job, describe_error(error)))
    shown.failed += 1
    shown.line(f"{job.label}: failed after {attempt} attempt(s): {describe_error(error)}")
