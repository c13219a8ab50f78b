"""`painmon` subcommands provided by engine/: `analyze` and `engine build|verify|info`.

Handlers are imported only when their command runs, so `painmon --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from engine.backends import Backend
from engine.errors import needing_torch_stack


def lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """Return a handler that imports `module:function` on first call and runs it."""

    def handler(args: argparse.Namespace) -> int:
        module, function = target.split(":")
        with needing_torch_stack(_command_words(args)):
            return getattr(importlib.import_module(module), function)(args)

    return handler


def _command_words(args: argparse.Namespace) -> str:
    """The command that ran, as typed: "painmon train loso"."""
    words = [getattr(args, key, None) for key in ("command", "train_command", "engine_command")]
    return " ".join(["painmon", *(word for word in words if word)])


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register this package's subcommands on the root parser's subparsers."""
    analyze = sub.add_parser("analyze", help="score every frame of a recorded video")
    analyze.add_argument("video", help="video file (a still image is one frame; or camera index / URL)")
    analyze.add_argument("--model", help="painmon checkpoint (.safetensors); default: the bundled demo model")
    analyze.add_argument("--backend", choices=[str(b) for b in Backend], default=str(Backend.AUTO))
    analyze.add_argument("--out", required=True, help="per-frame CSV to write")
    analyze.add_argument("--smooth", type=float, default=0.0, metavar="SECONDS",
                         help="temporal smoothing time constant (0 = off); never bridges gaps")
    analyze.add_argument("--quiet", action="store_true", help="no progress bar")
    analyze.set_defaults(func=lazy("engine.analyze:run"))

    eng = sub.add_parser("engine", help="TensorRT engines: build, verify, and what this machine has")
    esub = eng.add_subparsers(dest="engine_command", metavar="ACTION", required=True)
    build = esub.add_parser("build", help="build (or reuse cached) TensorRT engines for a model")
    build.add_argument("model", help="painmon checkpoint (.safetensors)")
    build.add_argument("--precision", choices=("fp32", "fp16"), default="fp16")
    build.set_defaults(func=lazy("engine.tensorrt.cli:build"))
    verify = esub.add_parser("verify", help="parity of every backend this machine has against PyTorch")
    verify.add_argument("model", help="painmon checkpoint (.safetensors)")
    verify.set_defaults(func=lazy("engine.tensorrt.cli:verify"))
    info = esub.add_parser("info", help="GPU, CUDA, TensorRT and cached plans on this machine")
    info.set_defaults(func=lazy("engine.tensorrt.cli:info"))
    onnx = esub.add_parser("onnx", help="write a model's ONNX graph beside it, for runtimes without torch")
    onnx.add_argument("model", help="painmon checkpoint (.safetensors)")
    onnx.set_defaults(func=lazy("engine.onnx_export:run"))
