"""2D pose heatmaps and SimCC: keypoint similarity, distillation and conversion.

Grids follow MMPose's codecs: heatmap cell i sits at input pixel i * stride (``MSRAHeatmap``,
stride = input size / heatmap size) and SimCC bin j at input pixel j / split_ratio
(``SimCCLabel``). Both are grids over the input that start at pixel 0; ``resample`` moves
values from one such grid to another.

Performance of a model on a sample is an OKS-style keypoint similarity in the input space:

    ks = sum_k v_k exp(-d_k^2 / (2 A (2 sigma_k)^2)) / sum_k v_k

with d_k the distance between the decoded and the ground-truth keypoint, v_k = 1 where the
keypoint weight is positive, sigma_k the dataset's OKS sigma and A = W * H / 1.25^2 the area of
the person box inside the W x H input (top-down crops pad the box by 1.25). Heatmaps and SimCC
vectors decode the same way, so the same keypoints score the same in either representation:
the maximum, refined to sub-bin precision by the vertex of a parabola through the log-density
at the maximum and its two neighbours (exact for Gaussian peaks, which both heads learn).
"""
from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .cls import kl_at_temperature
from .representation import Representation

BOX_PADDING = 1.25
# Logit scale of a heatmap's spatial distribution softmax(HEATMAP_BETA * h): heatmaps peak at 1
# like RTMPose's Gaussian SimCC labels, which KLDiscretLoss turns into softmax(10 * label).
HEATMAP_BETA = 10.0
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


def resample_distribution(p: Tensor, size: int) -> Tensor:
    """A distribution over the last axis moved onto ``size`` bins, normalised again."""
    p = resample(p, size).clamp_min(_EPS)
    return p / p.sum(-1, keepdim=True)


def keypoint_similarity(pred: Tensor, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
    """Per-sample keypoint similarity ([N], in [0, 1]) of input-space keypoints [N, K, 2],
    and which samples have a visible keypoint ([N] bool)."""
    width, height = targets.input_size
    area = width * height / BOX_PADDING**2
    dist2 = ((pred.float() - targets.keypoints.float())**2).sum(-1)
    kappa2 = (2 * targets.sigmas.float())**2
    similarity = torch.exp(-dist2 / (2 * area * kappa2))
    visible = (targets.weights > 0).to(similarity.dtype)
    count = visible.sum(-1)
    return (similarity * visible).sum(-1) / count.clamp_min(1), count > 0


def peak_offset(log_density: Tensor, index: Tensor) -> Tensor:
    """Sub-bin position of the maximum at ``index`` ([...]) of ``log_density`` ([..., n]):
    the vertex of the parabola through the maximum and its neighbours, in [-0.5, 0.5];
    0 at the borders and where the parabola is not concave."""
    n = log_density.shape[-1]
    inner = (index > 0) & (index < n - 1)

    def at(i: Tensor) -> Tensor:
        return log_density.gather(-1, i.clamp(0, n - 1)[..., None])[..., 0]

    left, centre, right = at(index - 1), at(index), at(index + 1)
    curvature = left - 2 * centre + right
    concave = inner & (curvature < 0)
    offset = 0.5 * (left - right) / torch.where(concave, curvature, torch.ones_like(curvature))
    return torch.where(concave, offset, torch.zeros_like(offset)).clamp(-0.5, 0.5)


def decode_heatmaps(heatmaps: Tensor, input_size: Tuple[int, int]) -> Tensor:
    """[N, K, H, W] heatmaps -> [N, K, 2] input-space keypoints (refined maxima)."""
    heatmaps = heatmaps.float()
    height, width = heatmaps.shape[-2:]
    index = heatmaps.flatten(-2).argmax(-1)
    col, row = index % width, torch.div(index, width, rounding_mode='floor')
    log_density = heatmaps.clamp_min(_EPS).log()
    row_profile = log_density.gather(-2, row[..., None, None].expand(
        *row.shape, 1, width))[..., 0, :]
    col_profile = log_density.gather(-1, col[..., None, None].expand(
        *col.shape, height, 1))[..., 0]
    x = col + peak_offset(row_profile, col)
    y = row + peak_offset(col_profile, row)
    return torch.stack([x * (input_size[0] / width), y * (input_size[1] / height)], -1)


def decode_simcc(simcc_x: Tensor, simcc_y: Tensor, input_size: Tuple[int, int]) -> Tensor:
    """SimCC logits ([N, K, Wx], [N, K, Wy]) -> [N, K, 2] input-space keypoints (refined
    maxima; logits are log-densities up to scale and shift)."""
    coords = []
    for logits, extent in zip((simcc_x, simcc_y), input_size):
        logits = logits.float()
        index = logits.argmax(-1)
        bins = index + peak_offset(logits, index)
        coords.append(bins * (extent / logits.shape[-1]))
    return torch.stack(coords, -1)


def _masked_keypoint_mean(per_keypoint: Tensor, weights: Tensor) -> Tensor:
    """[N, K] -> [N]: keypoint weights applied, mean over keypoints (as MMPose's losses)."""
    return (per_keypoint * weights.to(per_keypoint.dtype)).mean(-1)


def spatial_distribution(heatmaps: Tensor) -> Tensor:
    """[N, K, H, W] heatmaps -> their spatial distributions softmax(HEATMAP_BETA * h)."""
    logits = HEATMAP_BETA * heatmaps.float().flatten(-2)
    return torch.softmax(logits, -1).reshape(heatmaps.shape)


class HeatmapRep(Representation):
    """Keypoint heatmaps [N, K, H, W] (MMPose heatmap heads).

    The task loss, KeypointMSELoss, averages over samples, keypoints and pixels; both KD terms
    do the same, so that ``distill_weight`` keeps one meaning at any heatmap size.

    Args:
        kd_loss: 'mse' (regress the mentor's heatmap; the temperature plays no part) or 'kl'
            (KL between the spatial distributions softmax(10 * h / t) at the temperatures).
    """

    name = 'heatmap'
    converts_from = ('simcc', )

    def __init__(self, kd_loss: str = 'mse'):
        if kd_loss not in ('mse', 'kl'):
            raise ValueError(f"heatmap kd_loss must be 'mse' or 'kl', got {kd_loss!r}")
        self.kd_loss = kd_loss

    def log_score(self, out: Tensor, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
        score, valid = keypoint_similarity(decode_heatmaps(out, targets.input_size), targets)
        return score.clamp_min(_EPS).log(), valid

    def kd(self, student: Tensor, mentor: Tensor, t_student: Tensor, t_mentor: Tensor,
           targets: PoseTargets) -> Tensor:
        if self.kd_loss == 'mse':
            per_keypoint = ((student.float() - mentor.float())**2).flatten(2).mean(-1)
        else:
            num_pixels = student.shape[-2] * student.shape[-1]
            per_keypoint = kl_at_temperature(
                HEATMAP_BETA * student.flatten(2), HEATMAP_BETA * mentor.flatten(2),
                t_student[:, None, None], t_mentor[:, None, None]) / num_pixels
        return _masked_keypoint_mean(per_keypoint, targets.weights)

    def sharpness(self, out: Tensor) -> Tensor:
        return HEATMAP_BETA * out.float().flatten(2).amax(-1).mean(-1)

    def convert(self, out, source: Representation, like: Tensor) -> Tensor:
        height, width = like.shape[-2:]
        if isinstance(source, HeatmapRep):
            if out.shape[-2:] == like.shape[-2:]:
                return out
            out = out.float()
            return resample(resample(out, width).transpose(-1, -2), height).transpose(-1, -2)
        if isinstance(source, SimCCRep):
            p_x, p_y = (torch.softmax(source.beta * z.float(), -1) for z in out)
            joint = (resample_distribution(p_y, height)[..., :, None] *
                     resample_distribution(p_x, width)[..., None, :])
            # a heatmap that peaks at 1, like the Gaussian targets heatmap heads learn
            return joint / joint.flatten(-2).amax(-1)[..., None, None]
        return super().convert(out, source, like)


class SimCCRep(Representation):
    """SimCC x/y classification vectors ([N, K, Wx], [N, K, Wy]) (RTMPose's RTMCC head).

    The KD term has KLDiscretLoss's scale: the KL of each axis averaged over its bins, summed
    over the axes, averaged over keypoints and summed over the batch, so that
    ``distill_weight`` weighs it against the task loss alike at every batch size.

    Args:
        beta: logit scale of the head's loss (``KLDiscretLoss.beta``, 10 for RTMPose): the
            distributions are softmax(beta * z / t).
    """

    name = 'simcc'
    converts_from = ('heatmap', )

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
            kl_at_temperature(self.beta * s, self.beta * m, t_s, t_m) / s.shape[-1]
            for s, m in zip(student, mentor))
        batch_size = per_keypoint.shape[0]  # the objective's batch mean becomes a sum
        return batch_size * _masked_keypoint_mean(per_keypoint, targets.weights)

    def sharpness(self, out) -> Tensor:
        return self.beta * torch.stack([z.float().amax(-1) for z in out]).mean((0, 2))

    def convert(self, out, source: Representation, like) -> Tuple[Tensor, Tensor]:
        if isinstance(source, SimCCRep):
            if source.beta == self.beta and all(
                    z.shape == y.shape for z, y in zip(out, like)):
                return out
            probs = [torch.softmax(source.beta * z.float(), -1) for z in out]
        elif isinstance(source, HeatmapRep):
            joint = spatial_distribution(out)
            probs = [joint.sum(-2), joint.sum(-1)]  # x and y marginals
        else:
            return super().convert(out, source, like)
        # logits on the student's scale whose softmax(beta * z) is the mentor's distribution
        return tuple(
            resample_distribution(p, z.shape[-1]).log() / self.beta for p, z in zip(probs, like))
