"""Classification logits: performance is the probability of the true class."""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .representation import Representation


def kl_at_temperature(student: Tensor, mentor: Tensor, t_student: Tensor, t_mentor: Tensor,
                      dim: int = -1, scale: Optional[Tensor] = None) -> Tensor:
    """t_s * t_m * KL(softmax(mentor / t_m) || softmax(student / t_s)) summed over ``dim``.

    The temperatures broadcast against the logits (shape [N, 1, ...]). With t_s = t_m = t this
    is Hinton's t^2-scaled KD term. ``scale``, shaped like the temperatures, replaces the
    factor t_s * t_m.
    """
    log_p_student = F.log_softmax(student.float() / t_student, dim)
    log_p_mentor = F.log_softmax(mentor.float() / t_mentor, dim)
    kl = (log_p_mentor.exp() * (log_p_mentor - log_p_student)).sum(dim)
    return kl * (t_student * t_mentor if scale is None else scale).squeeze(dim)


class ClsLogits(Representation):
    """Logits [N, num_classes]; targets are class indices [N] or soft labels [N, num_classes]."""

    name = 'cls'

    def log_score(self, out: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        log_p = F.log_softmax(out.float(), -1)
        if labels.dim() == 1:
            log_score = log_p.gather(1, labels[:, None].long())[:, 0]
        else:  # soft labels (mixup, label smoothing in the pipeline): log sum_c y_c p_c
            log_score = torch.logsumexp(log_p + labels.float().log(), -1)
        return log_score, torch.ones_like(log_score, dtype=torch.bool)

    def kd(self, student: Tensor, mentor: Tensor, t_student: Tensor, t_mentor: Tensor,
           labels: Tensor, scale: Optional[Tensor] = None) -> Tensor:
        return kl_at_temperature(student, mentor, t_student[:, None], t_mentor[:, None],
                                 scale=None if scale is None else scale[:, None])

    def sharpness(self, out: Tensor) -> Tensor:
        return out.float().max(-1).values

    def task_loss(self, out: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(out.float(), labels, reduction='none')
