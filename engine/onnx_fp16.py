"""FP16-baked ONNX for TensorRT's strongly typed networks (FACTS.md §6).

TensorRT 10.12+/11 take precision from the graph itself, so FP16 is written into the ONNX: FP16 weights and
Cast nodes, FP32 inputs and outputs (every backend keeps feeding float32), and the numerically sensitive tail
kept in FP32: every L2 norm, softmax or sigmoid, the layer computing its input (the logits) and everything
computed after it (a sum of 512 squares overflows FP16; the 0–5 score and the face probabilities are read
to three decimals).

The conversion itself is ONNX Runtime's `convert_float_to_float16`; two small passes around it keep the tail
truly FP32: initializers used only by the tail keep their FP32 type, and the FP32→FP16→FP32 Cast round trips
the converter puts after every blocked node are removed; the result is sorted topologically again.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import onnx
from onnx import TensorProto
from onnxruntime.transformers.float16 import convert_float_to_float16
from onnxscript import ir

from engine.onnx_files import write_model_atomically

FP32_OPS = frozenset({"ReduceL2", "ReduceSumSquare", "LpNormalization", "Softmax", "LogSoftmax", "Sigmoid"})
LOGIT_LAYERS = frozenset({"Gemm", "MatMul", "Conv"})  # the layer computing what an FP32 op normalises
_PASS_THROUGH = frozenset({"Add", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Transpose"})


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    return consumers


def _logit_layer(node: onnx.NodeProto, producers: dict[str, onnx.NodeProto]) -> list[onnx.NodeProto]:
    """The layer whose output `node` normalises (a linear or 1×1 conv, through bias adds and reshapes)."""
    chain = []
    current = producers.get(node.input[0])
    while current is not None and current.op_type in _PASS_THROUGH:
        chain.append(current)
        current = producers.get(current.input[0])
    return [*chain, current] if current is not None and current.op_type in LOGIT_LAYERS else []


def fp32_tail(graph: onnx.GraphProto) -> list[str]:
    """Names of the nodes that stay FP32: each FP32_OPS node, the layer computing its input (the logits),
    and every node that consumes their results."""
    consumers = _consumers(graph)
    producers = {name: node for node in graph.node for name in node.output}
    sensitive = [node for node in graph.node if node.op_type in FP32_OPS]
    pending = [*sensitive, *(layer for node in sensitive for layer in _logit_layer(node, producers))]
    kept: set[str] = set()
    while pending:
        node = pending.pop()
        if node.name in kept:
            continue
        kept.add(node.name)
        for name in node.output:
            pending.extend(consumers[name])
    return sorted(kept)


def _is_cast(node: onnx.NodeProto, to: int) -> bool:
    return node.op_type == "Cast" and any(a.name == "to" and a.i == to for a in node.attribute)


def _drop_round_trips(graph: onnx.GraphProto, tail: set[str]) -> None:
    """Let FP32 tail nodes feed each other (and the graph outputs) directly, without an FP16 detour."""
    consumers = _consumers(graph)
    outputs = {value.name for value in graph.output}
    dropped: list[onnx.NodeProto] = []
    renames: dict[str, str] = {}
    for node in graph.node:
        if node.name not in tail:
            continue
        for index, name in enumerate(node.output):
            users = consumers[name]
            if len(users) != 1 or not _is_cast(users[0], TensorProto.FLOAT16):
                continue
            back = consumers[users[0].output[0]]
            if users[0].output[0] in outputs or not all(_is_cast(b, TensorProto.FLOAT) for b in back):
                continue
            target = next((b.output[0] for b in back if b.output[0] in outputs), name)
            node.output[index] = target
            renames.update({b.output[0]: target for b in back})
            dropped.extend([users[0], *back])
    for node in dropped:
        graph.node.remove(node)
    for node in graph.node:
        for index, name in enumerate(node.input):
            node.input[index] = renames.get(name, name)
    live = {name for node in graph.node for name in (*node.input, *node.output)}
    stale = [value for value in graph.value_info if value.name not in live]
    for value in stale:
        graph.value_info.remove(value)


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    """Return the FP16-baked form of an FP32 model (the argument is modified in place as well)."""
    graph = model.graph
    for index, node in enumerate(graph.node):
        node.name = node.name or f"{node.op_type}_{index}"
    initializers = {tensor.name for tensor in graph.initializer}
    for value in [v for v in graph.value_info if v.name in initializers]:
        graph.value_info.remove(value)
    tail = fp32_tail(graph)
    half = convert_float_to_float16(model, keep_io_types=True, op_block_list=[], node_block_list=tail)
    _drop_round_trips(half.graph, set(tail))
    sorted_model = ir.from_proto(half)
    sorted_model.graph.sort()  # the converter appends its Cast nodes at the end of the node list
    half = ir.to_proto(sorted_model)
    onnx.checker.check_model(half)
    return half


def bake_fp16(src: Path, dst: Path) -> Path:
    """Write the FP16-baked form of the FP32 model `src` to `dst` (external data beside it); return `dst`."""
    half = to_fp16(onnx.load(src))

    def save(path: Path) -> None:
        onnx.save_model(half, path, save_as_external_data=True, location=f"{path.name}.data")

    return write_model_atomically(dst, save)
