"""Method `fn2en`: FaceNet2ExpNet (paper 004): a face net's features regularise the pain net, then regression.

Stage (a): the face net G (the teacher: a pretrained backbone, or the backbone of a painmon checkpoint such as
a regressor already fine-tuned on pain, the paper's "fine-tuned face net") is frozen in eval mode; its
features at `teacher_layer` supervise the pain net's backbone at `student_layer` with ‖g(I) − G(I)‖ₚᵖ
(eq. (3)), through the adapter of train.distill where the shapes differ. Only the pain net's backbone up to
that layer (and the adapter) is trained. Stage (b): the regressor's embed and head, freshly initialised and
untouched by stage (a), sit on the trained backbone and the whole net is trained with the [loss] regression
of paper 000 (`fit_regression`).

Readings of the paper: eq. (3) is taken as the mean over feature elements of |g − G|ᵖ (a constant rescaling
of the sum); stage (b)'s cross-entropy (expression classes) becomes the papers' pain regression. The teacher
sees the same aligned faces as the pain net, placed on its own input size (train.distill.fit_crops) and
normalised its own way. Stage (a) snapshots into the fold folder (STAGE_A_SNAPSHOT); a snapshot of a finished
stage (a) is kept until the fold ends, so a killed run never redoes it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from engine.backbone_specs import BACKBONES
from engine.backbones import build_backbone
from engine.checkpoint import load_checkpoint
from engine.model import PainRegressor
from train.config import ConfigError, FN2ENConfig, TrainConfig
from train.distill import FEATURES, FeatureRegression, feature_extractor, fit_crops, output_shape
from train.loop import TrainState, sgd_optimizer, sgd_step, training_batch
from train.methods.base import TrainingSet
from train.methods.regression import Regression, fit_regression, new_regressor
from train.sampling import batches, shuffled_stream

STAGE_A_SNAPSHOT = "fn2en_stage_a_snapshot.safetensors"
"""Stage (a)'s resumable state in the fold folder; it records the finished stage until the fold ends."""


class FaceNetTeacher(nn.Module):
    """The frozen face net G: float32 N×3×h×w RGB crops in 0..255 → its features at one layer.

    Always in eval mode without gradients: stage (a) never changes it.
    """

    mean: Tensor  # buffers: the face net's input normalisation
    std: Tensor

    def __init__(self, backbone: nn.Module, layer: str, input_size: tuple[int, int], mean: float,
                 std: float) -> None:
        super().__init__()
        self.features = feature_extractor(backbone, layer, "teacher_layer")
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))
        self.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> FaceNetTeacher:
        """Stays in eval mode whatever is asked: batch-norm statistics are never updated."""
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.features((fit_crops(x, self.input_size) - self.mean) / self.std)[FEATURES]


def load_teacher(settings: FN2ENConfig) -> FaceNetTeacher:
    """The face net the [fn2en] settings name; pretrained weights download once (offline:
    WeightsUnavailableError), a checkpoint that is missing or damaged raises ModelFileError."""
    if settings.teacher_checkpoint:
        model, _ = load_checkpoint(settings.teacher_checkpoint)
        if not isinstance(model, PainRegressor):
            raise ConfigError(f"[fn2en] teacher_checkpoint {settings.teacher_checkpoint} is an AU ensemble; "
                              "name a pain regressor's checkpoint")
        return FaceNetTeacher(model.backbone, settings.teacher_layer, model.input_size, float(model.mean),
                              float(model.std))
    spec = BACKBONES.get(settings.teacher_backbone)
    if spec is None:
        raise ConfigError(f"[fn2en] teacher_backbone {settings.teacher_backbone!r} is unknown "
                          f"(choose from {', '.join(BACKBONES)})")
    pretrained = settings.teacher_pretrained or None
    if pretrained is not None and pretrained not in spec.pretrained:
        raise ConfigError(f"[fn2en] teacher_pretrained {pretrained!r} does not exist for {spec.name} "
                          f"(choose from {', '.join(spec.pretrained) or 'none'})")
    return FaceNetTeacher(build_backbone(spec.name, pretrained), settings.teacher_layer, spec.input_size,
                          spec.mean, spec.std)


def stage_a_parts(model: PainRegressor, teacher: FaceNetTeacher,
                  config: TrainConfig) -> tuple[nn.Module, FeatureRegression]:
    """The student g (the pain net's backbone up to `student_layer`, sharing its modules) and the loss
    with its adapter (initialised from the config's seed)."""
    student = feature_extractor(model.backbone, config.fn2en.student_layer, "student_layer")
    torch.manual_seed(config.solver.seed)
    loss = FeatureRegression(output_shape(student, model.input_size),
                             output_shape(teacher.features, teacher.input_size), config.fn2en.p)
    return student, loss


def distill(model: PainRegressor, teacher: FaceNetTeacher, config: TrainConfig, data: TrainingSet, *,
            device: torch.device, snapshot: Path, progress: str | None) -> list[float]:
    """Stage (a): train the pain net's backbone up to `student_layer` on the teacher's features.

    Resumes from `snapshot` (saved every solver.snapshot_every iterations and when the stage completes); a
    snapshot of the finished stage just restores its result. Returns the losses of the iterations this call
    ran. The model's embed and head are not touched.
    """
    settings, solver = config.fn2en, config.solver
    student, loss_fn = stage_a_parts(model, teacher, config)
    model.to(device)
    teacher.to(device)
    loss_fn.to(device)
    student.train()
    optimizer = sgd_optimizer([student, loss_fn], replace(solver, lr=settings.lr))
    cuda = device.type == "cuda"
    state = TrainState({"student": student, "loss": loss_fn}, {"sgd": optimizer},
                       torch.amp.GradScaler("cuda", enabled=cuda))
    start = state.load(snapshot) if snapshot.exists() else 0
    stream = batches(shuffled_stream(len(data.rows), solver.seed), solver.batch_size, skip=start)
    losses: list[float] = []
    bar = tqdm(range(start, settings.iterations), initial=start, total=settings.iterations, desc=progress,
               disable=progress is None, leave=False, dynamic_ncols=True)
    for it in bar:
        torch.manual_seed(solver.seed * 1_000_003 + it)
        pick = next(stream)
        x, _ = training_batch(data.images(data.rows[pick]), device, solver.mirror)
        with torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
            target = teacher(x)
            features = student((x - model.mean) / model.std)[FEATURES]
        loss = loss_fn(features.float(), target.float())
        value = sgd_step(optimizer, state.scaler, loss, iteration=it, remedy="fn2en.lr")
        losses.append(value)
        if it % 10 == 0:
            bar.set_postfix(loss=f"{value:.4f}")
        if (it + 1) % solver.snapshot_every == 0 or it + 1 == settings.iterations:
            state.save(snapshot, it + 1)
    bar.close()
    model.eval()
    return losses


class FaceNet2ExpNet(Regression):
    """Method `fn2en`: paper 004's two stages on the [model] regressor."""

    def new_model(self, config: TrainConfig) -> PainRegressor:
        model = new_regressor(config)
        # A missing teacher or a wrong layer name fails here, before any face is aligned or trained on.
        stage_a_parts(model, load_teacher(config.fn2en), config)
        return model

    def train(self, model: PainRegressor, config: TrainConfig, data: TrainingSet, *, device: torch.device,
              iterations: int, folder: Path, progress: str | None) -> None:
        snapshot = folder / STAGE_A_SNAPSHOT
        distill(model, load_teacher(config.fn2en), config, data, device=device, snapshot=snapshot,
                progress=None if progress is None else f"{progress} stage (a)")
        fit_regression(model, config, data, device=device, iterations=iterations, folder=folder,
                       progress=None if progress is None else f"{progress} stage (b)")
        snapshot.unlink(missing_ok=True)
