"""The interface every output representation implements (classification logits, pose heatmaps,
pose SimCC). The objective and the distiller use nothing else, so they never branch on the task.

An output is a tensor or a tuple of tensors whose first axis is the sample.
"""
from abc import ABC, abstractmethod
from typing import Any, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

Output = Union[Tensor, Tuple[Tensor, ...]]


def parts(out: Output) -> Sequence[Tensor]:
    return out if isinstance(out, (tuple, list)) else (out, )


def finite_per_sample(out: Output) -> Tensor:
    """[N] bool: every value of the sample's output is finite."""
    flags = [torch.isfinite(p).flatten(1).all(1) for p in parts(out)]
    return torch.stack(flags).all(0)


def zero_nonfinite(out: Output) -> Output:
    """Replace NaN and inf by 0 so that masked terms cannot poison gradients."""
    cleaned = [torch.where(torch.isfinite(p), p, torch.zeros_like(p)) for p in parts(out)]
    return tuple(cleaned) if isinstance(out, (tuple, list)) else cleaned[0]


class Representation(ABC):
    """How one kind of output is scored, distilled and converted.

    ``targets`` is whatever the representation needs (labels for classification,
    ``PoseTargets`` for pose).
    """

    name = 'base'
    # the other representations whose outputs ``convert`` turns into this one's
    converts_from: Tuple[str, ...] = ()

    @abstractmethod
    def log_score(self, out: Output, targets: Any) -> Tuple[Tensor, Tensor]:
        """Log of the per-sample performance score in (0, 1] ([N]) and which samples can be
        scored ([N] bool)."""

    @abstractmethod
    def kd(self, student: Output, mentor: Output, t_student: Tensor, t_mentor: Tensor,
           targets: Any, scale: Optional[Tensor] = None) -> Tensor:
        """Per-sample ([N]) distillation loss of ``student`` towards ``mentor`` (already in
        this representation) at per-sample temperatures [N]. ``scale`` ([N]) replaces the
        factor t_student * t_mentor of a KL term (the authors' DTKD); a loss without
        temperatures ignores it."""

    @abstractmethod
    def sharpness(self, out: Output) -> Tensor:
        """Per-sample ([N]) largest logit, DTKD's sharpness."""

    def task_loss(self, out: Output, targets: Any) -> Tensor:
        """Per-sample task loss when no model head provides one."""
        raise ValueError(f'{self.name} outputs have no default task loss: pass the task loss '
                         'computed by the student head')

    def can_convert(self, source: 'Representation') -> bool:
        """Whether ``convert`` takes outputs of ``source`` (checked when a classroom is built)."""
        return type(source) is type(self) or source.name in self.converts_from

    def convert(self, out: Output, source: 'Representation', like: Output) -> Output:
        """``out`` of representation ``source`` in this representation, shaped like ``like``
        (the student's output). The identity when the representations match."""
        if type(source) is type(self):
            return out
        raise ValueError(f'cannot convert {source.name} outputs into {self.name} outputs')
