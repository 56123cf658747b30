"""2D pose heatmaps and SimCC: keypoint similarity, distillation and conversion.

Conventions follow MMPose's codecs: heatmap cell i sits at input pixel i * stride
(``input_size / heatmap_size``) and SimCC bin j at input pixel j / split_ratio. Both are
"grids over the input"; ``resample`` moves a distribution from one grid to another.

Performance of a model on a sample is an OKS-style keypoint similarity in the input space:

    ks = sum_k v_k exp(-d_k^2 / (2 A (2 sigma_k)^2)) / sum_k v_k

with d_k the distance between the decoded and the ground-truth keypoint, v_k = 1 where the
keypoint weight is positive, sigma_k the dataset's OKS sigma and A = W * H / 1.25^2 the area of
the person box inside the W x H input (top-down crops pad the box by 1.25).
"""
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .cls import kl_at_temperature
from .representation import Representation

BOX_PADDING = 1.25
_EPS = 1e-10


@dataclass
class PoseTargets:
    """Ground truth of a batch in the models' input space.

    Attributes:
        keypoints: [N, K, 2] keypoints in input pixels.
        weights: [N, K] keypoint weights; a keypoint counts where its weight is positive.
        sigmas: [K] OKS sigmas.
        input_size: (width, height) of the model input.
    """
    keypoints: Tensor
    weights: Tensor
    sigmas: Tensor
    input_size: Tuple[int, int]


def resample(x: Tensor, size: int) -> Tensor:
    """Move values on a grid of n points along the last axis to a grid of ``size`` points
    covering the same extent (point j of the new grid sits at j * n / size of the old one).

    Linear interpolation; when shrinking, a box filter as wide as the step first averages
    the points that fall between two new ones.
    """
    n = x.shape[-1]
    if n == size:
        return x
    step = n / size
    if step > 1:
        width = 2 * int(step // 2) + 1
        flat = x.reshape(-1, 1, n)
        x = F.avg_pool1d(flat, width, 1, width // 2, count_include_pad=False).reshape(x.shape)
    pos = torch.arange(size, device=x.device, dtype=torch.float32) * step
    low = pos.floor().long().clamp(max=n - 1)
    high = (low + 1).clamp(max=n - 1)
    frac = (pos - low).clamp(0, 1).to(x.dtype)
    return x[..., low] * (1 - frac) + x[..., high] * frac


def keypoint_similarity(pred: Tensor, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
    """Per-sample keypoint similarity ([N], in [0, 1]) and which samples have a visible
    keypoint ([N] bool)."""
    width, height = targets.input_size
    area = width * height / BOX_PADDING**2
    dist2 = ((pred.float() - targets.keypoints.float())**2).sum(-1)
    kappa2 = (2 * targets.sigmas.float())**2
    similarity = torch.exp(-dist2 / (2 * area * kappa2))
    visible = (targets.weights > 0).to(similarity.dtype)
    count = visible.sum(-1)
    return (similarity * visible).sum(-1) / count.clamp_min(1), count > 0


def _masked_keypoint_mean(per_keypoint: Tensor, weights: Tensor) -> Tensor:
    """[N, K] -> [N]: keypoint weights applied, mean over keypoints (as MMPose's losses)."""
    return (per_keypoint * weights.to(per_keypoint.dtype)).mean(-1)


def decode_heatmaps(heatmaps: Tensor, input_size: Tuple[int, int]) -> Tensor:
    """[N, K, H, W] -> [N, K, 2] input-space coordinates of each heatmap's maximum."""
    height, width = heatmaps.shape[-2:]
    index = heatmaps.flatten(-2).argmax(-1)
    x = (index % width).float() * (input_size[0] / width)
    y = torch.div(index, width, rounding_mode='floor').float() * (input_size[1] / height)
    return torch.stack([x, y], -1)


def decode_simcc(simcc_x: Tensor, simcc_y: Tensor, input_size: Tuple[int, int]) -> Tensor:
    """([N, K, Wx], [N, K, Wy]) -> [N, K, 2] input-space coordinates of the maxima."""
    x = simcc_x.argmax(-1).float() * (input_size[0] / simcc_x.shape[-1])
    y = simcc_y.argmax(-1).float() * (input_size[1] / simcc_y.shape[-1])
    return torch.stack([x, y], -1)


class HeatmapRep(Representation):
    """Keypoint heatmaps [N, K, H, W] (MMPose heatmap heads).

    Args:
        kd_loss: 'mse' (regress the mentor's heatmap; the temperature plays no part) or 'kl'
            (KL between spatial softmax distributions at the mentor's temperature).
        beta: logit scale of the spatial softmax for 'kl': p = softmax(beta * h / t).
    """

    name = 'heatmap'

    def __init__(self, kd_loss: str = 'mse', beta: float = 10.0):
        if kd_loss not in ('mse', 'kl'):
            raise ValueError(f"heatmap kd_loss must be 'mse' or 'kl', got {kd_loss!r}")
        self.kd_loss = kd_loss
        self.beta = beta

    def log_score(self, out: Tensor, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
        score, valid = keypoint_similarity(decode_heatmaps(out, targets.input_size), targets)
        return score.clamp_min(_EPS).log(), valid

    def kd(self, student: Tensor, mentor: Tensor, t_student: Tensor, t_mentor: Tensor,
           targets: PoseTargets) -> Tensor:
        if self.kd_loss == 'mse':
            per_keypoint = ((student.float() - mentor.float())**2).flatten(2).mean(-1)
        else:
            per_keypoint = kl_at_temperature(self.beta * student.flatten(2),
                                             self.beta * mentor.flatten(2),
                                             t_student[:, None, None], t_mentor[:, None, None])
        return _masked_keypoint_mean(per_keypoint, targets.weights)

    def sharpness(self, out: Tensor) -> Tensor:
        return self.beta * out.float().flatten(2).amax(-1).mean(-1)

    def convert(self, out, source: Representation, like: Tensor) -> Tensor:
        height, width = like.shape[-2:]
        if isinstance(source, HeatmapRep):
            return resample(resample(out, width).transpose(-1, -2), height).transpose(-1, -2)
        if isinstance(source, SimCCRep):
            p_x, p_y = (torch.softmax(source.beta * z.float(), -1) for z in out)
            heatmap = resample(p_y, height)[..., :, None] * resample(p_x, width)[..., None, :]
            # a heatmap that peaks at 1, like the Gaussian targets heatmap heads learn
            return heatmap / heatmap.flatten(-2).amax(-1)[..., None, None].clamp_min(_EPS)
        return super().convert(out, source, like)


class SimCCRep(Representation):
    """SimCC x/y classification vectors ([N, K, Wx], [N, K, Wy]) (RTMPose's RTMCC head).

    Args:
        beta: logit scale of the head's loss (``KLDiscretLoss.beta``, 10 for RTMPose): the
            distributions are softmax(beta * z / t).
    """

    name = 'simcc'

    def __init__(self, beta: float = 1.0):
        self.beta = beta

    def log_score(self, out, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
        pred = decode_simcc(out[0], out[1], targets.input_size)
        score, valid = keypoint_similarity(pred, targets)
        return score.clamp_min(_EPS).log(), valid

    def kd(self, student, mentor, t_student: Tensor, t_mentor: Tensor,
           targets: PoseTargets) -> Tensor:
        t_s, t_m = t_student[:, None, None], t_mentor[:, None, None]
        per_keypoint = sum(
            kl_at_temperature(self.beta * s, self.beta * m, t_s, t_m)
            for s, m in zip(student, mentor))
        return _masked_keypoint_mean(per_keypoint, targets.weights)

    def sharpness(self, out) -> Tensor:
        return self.beta * torch.stack([z.float().amax(-1) for z in out]).mean((0, 2))

    def convert(self, out, source: Representation, like) -> Tuple[Tensor, Tensor]:
        if isinstance(source, SimCCRep):
            if source.beta == self.beta and all(
                    z.shape == y.shape for z, y in zip(out, like)):
                return out
            probs = [torch.softmax(source.beta * z.float(), -1) for z in out]
        elif isinstance(source, HeatmapRep):
            mass = out.float().clamp_min(0) + _EPS
            mass = mass / mass.flatten(-2).sum(-1)[..., None, None]
            probs = [mass.sum(-2), mass.sum(-1)]
        else:
            return super().convert(out, source, like)
        # logits on the student's scale whose softmax(beta * z) is the mentor's distribution
        return tuple(_log_distribution(p, z.shape[-1]) / self.beta for p, z in zip(probs, like))


def _log_distribution(p: Tensor, size: int) -> Tensor:
    """Log of the distribution p resampled onto ``size`` bins."""
    p = resample(p, size).clamp_min(_EPS)
    return (p / p.sum(-1, keepdim=True)).log()
