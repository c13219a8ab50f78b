"""No TensorRT API that TensorRT 10/11 removed (FACTS.md §6) may appear in painmon's code.

Old tutorials still use them, and they fail only on a user's GPU. The check reads the code's syntax tree
(attribute and name uses, not comments). `execute` and `max_batch_size` are ordinary words elsewhere
(SQLite's `execute`, a pipeline's batch limit), so they count only in modules that use TensorRT.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGES = ("app", "engine", "train")
REMOVED = re.compile(
    r"build_engine|max_workspace_size|num_bindings|get_binding_\w+|binding_is_input|execute_async(_v2)?"
    r"|set_binding_shape|platform_has_fast_fp16|EXPLICIT_BATCH|int8_calibrator")
REMOVED_IN_TENSORRT_CODE = re.compile(r"execute|max_batch_size")
USES_TENSORRT = re.compile(r"\btensorrt\b|\btrt\b")


def removed_api_uses(source: str) -> list[str]:
    """'line: name' for every use of a removed TensorRT API in a module's source."""
    patterns = [REMOVED, REMOVED_IN_TENSORRT_CODE] if USES_TENSORRT.search(source) else [REMOVED]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.Name):
            name = node.id
        else:
            continue
        if any(pattern.fullmatch(name) for pattern in patterns):
            found.append(f"{node.lineno}: {name}")
    return found


def _modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def test_the_guard_sees_the_tensorrt_modules():
    names = {path.relative_to(ROOT).as_posix() for path in _modules()}
    assert {"engine/tensorrt/builder.py", "engine/tensorrt/runtime.py",
            "engine/backends/tensorrt_backend.py"} <= names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_removed_tensorrt_api(path: Path):
    assert removed_api_uses(path.read_text()) == []


@pytest.mark.parametrize("snippet, expected", [
    ("engine = builder.build_engine(network, config)", ["1: build_engine"]),
    ("import tensorrt as trt\nconfig.max_workspace_size = 1 << 30", ["2: max_workspace_size"]),
    ("import tensorrt as trt\nbuilder.max_batch_size = 16", ["2: max_batch_size"]),
    ("n = engine.num_bindings", ["1: num_bindings"]),
    ("shape = engine.get_binding_shape(0)", ["1: get_binding_shape"]),
    ("if engine.binding_is_input(i): pass", ["1: binding_is_input"]),
    ("import tensorrt as trt\ncontext.execute(1, bindings)", ["2: execute"]),
    ("context.execute_async(1, bindings, stream)", ["1: execute_async"]),
    ("context.execute_async_v2(bindings, stream)", ["1: execute_async_v2"]),
    ("context.set_binding_shape(0, shape)", ["1: set_binding_shape"]),
    ("if builder.platform_has_fast_fp16: pass", ["1: platform_has_fast_fp16"]),
    ("flag = trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH", ["1: EXPLICIT_BATCH"]),
    ("config.int8_calibrator = calibrator", ["1: int8_calibrator"]),
    ("connection.execute('SELECT 1')", []),  # SQLite, in a module without TensorRT
    ("max_batch_size = 16", []),
    ("context.execute_async_v3(stream.cuda_stream)  # not execute_async_v2", []),
])
def test_the_guard_catches_each_removed_api(snippet, expected):
    assert removed_api_uses(snippet) == expected
