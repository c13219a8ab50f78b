"""Box overlap and non-maximum suppression in numpy, for x1, y1, x2, y2 boxes."""

from __future__ import annotations

import numpy as np


def overlap(box: np.ndarray, boxes: np.ndarray, *, smaller: bool = False, inclusive: bool = False
            ) -> np.ndarray:
    """Overlap of `box` (4,) with each of `boxes` (N, 4): intersection over union, or over the smaller of
    the two areas with `smaller`. `inclusive` counts both end pixels (sides x2 − x1 + 1), as MTCNN's
    original "Min" suppression does; otherwise sides are x2 − x1, as torchvision's box_iou."""
    one = 1.0 if inclusive else 0.0
    sides = np.maximum(np.minimum(box[2:4], boxes[:, 2:4]) - np.maximum(box[0:2], boxes[:, 0:2]) + one, 0.0)
    inter = sides[:, 0] * sides[:, 1]
    area = (box[2] - box[0] + one) * (box[3] - box[1] + one)
    areas = (boxes[:, 2] - boxes[:, 0] + one) * (boxes[:, 3] - boxes[:, 1] + one)
    denominator = np.minimum(area, areas) if smaller else area + areas - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, inter / denominator, 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, *, smaller: bool = False,
        inclusive: bool = False) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first: each kept box
    removes the remaining ones that overlap it (`overlap` with the same options) by more than `threshold`."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        order = order[overlap(boxes[best], boxes[order], smaller=smaller, inclusive=inclusive) <= threshold]
    return np.array(keep, dtype=np.int64)
