"""Fixtures of the engine tests: MTCNN's networks exported to ONNX once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """FP32 and FP16 ONNX of MTCNN's PNet, RNet, ONet, exported once for the session."""
    from engine.mtcnn_onnx import NETWORKS, export_network
    from engine.onnx_fp16 import bake_fp16

    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for name in NETWORKS:
        paths[name, "fp32"] = export_network(name, folder / f"{name}.fp32.onnx")
        paths[name, "fp16"] = bake_fp16(paths[name, "fp32"], folder / f"{name}.fp16.onnx")
    return paths


@pytest.fixture(scope="session")
def specs(exported: dict[tuple[str, str], Path]) -> dict:
    """MTCNN's network specs, pointing at the session's ONNX exports."""
    from dataclasses import replace

    from engine.tensorrt.networks import mtcnn_networks

    return {spec.name: replace(spec, onnx=lambda precision, name=spec.name: exported[name, precision])
            for spec in mtcnn_networks()}
