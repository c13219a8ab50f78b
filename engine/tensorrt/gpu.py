"""Which CUDA GPU this process uses, as far as the plan cache and backend choice need to know."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Gpu:
    """A CUDA device: plans only load on the GPU model (and TensorRT version) they were built on."""

    index: int
    name: str
    capability: tuple[int, int]

    @property
    def compute_capability(self) -> str:
        """E.g. "9.0" for an H100."""
        return f"{self.capability[0]}.{self.capability[1]}"

    @property
    def device(self) -> torch.device:
        """The torch device whose tensors serve as engine buffers."""
        return torch.device("cuda", self.index)


def cuda_gpu(index: int = 0) -> Gpu | None:
    """The CUDA GPU `index` as torch sees it, or None when torch has no usable CUDA device."""
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        return None
    return Gpu(index, torch.cuda.get_device_name(index), torch.cuda.get_device_capability(index))
