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

A mentor of the other head is re-encoded for the student: its peak, read as a Gaussian (centre
the refined maximum, height its keypoint score, width relative to its own codec's sigma), is
written as the student's codec writes a keypoint, at the unrounded centre. A mentor that
outputs its own training target thus becomes the student's training target for the same
keypoint.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

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


def fit_peak(log_value: Tensor, index: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The Gaussian through the maximum at ``index`` ([...]) of ``log_value`` ([..., n]) and
    its two neighbours, i.e. the parabola through their logs: the offset of its centre from
    ``index`` (in [-0.5, 0.5]), its log height and its width (standard deviation, in bins).
    Where the parabola is not concave (at a border, on a plateau) the offset is 0, the log
    height the maximum's and the width 0. Exact for Gaussian peaks."""
    n = log_value.shape[-1]
    inner = (index > 0) & (index < n - 1)

    def at(i: Tensor) -> Tensor:
        return log_value.gather(-1, i.clamp(0, n - 1)[..., None])[..., 0]

    left, centre, right = at(index - 1), at(index), at(index + 1)
    concave = inner & (left - 2 * centre + right < 0)
    curvature = torch.where(concave, left - 2 * centre + right, -torch.ones_like(centre))
    slope = 0.5 * (right - left)
    offset = torch.where(concave, -slope / curvature, torch.zeros_like(slope)).clamp(-0.5, 0.5)
    log_height = centre + torch.where(concave, offset * (slope + 0.5 * curvature * offset),
                                      torch.zeros_like(slope))
    width = torch.where(concave, (-1 / curvature).sqrt(), torch.zeros_like(curvature))
    return offset, log_height, width


def heatmap_peaks(heatmaps: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """[N, K, H, W] heatmaps -> every keypoint's peak as a Gaussian fitted to log h along the
    row and the column through the maximum: centre [N, K, 2] (x, y in cells), height [N, K]
    and width [N, K, 2] (in cells, 0 where the fit is not concave)."""
    heatmaps = heatmaps.float()
    height, width = heatmaps.shape[-2:]
    index = heatmaps.flatten(-2).argmax(-1)
    col, row = index % width, torch.div(index, width, rounding_mode='floor')
    log_density = heatmaps.clamp_min(_EPS).log()
    row_profile = log_density.gather(-2, row[..., None, None].expand(
        *row.shape, 1, width))[..., 0, :]
    col_profile = log_density.gather(-1, col[..., None, None].expand(
        *col.shape, height, 1))[..., 0]
    dx, log_height_x, width_x = fit_peak(row_profile, col)
    dy, log_height_y, width_y = fit_peak(col_profile, row)
    # for a h(x, y) = a gx(x) gy(y), the row's fit peaks at a gy(row), the column's at
    # a gx(col), and the maximum is a gx(col) gy(row)
    log_max = log_density.flatten(-2).gather(-1, index[..., None])[..., 0]
    peak = (log_height_x + log_height_y - log_max).exp()
    return (torch.stack([col + dx, row + dy], -1), peak, torch.stack([width_x, width_y], -1))


def simcc_peak(logits: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """[..., n] SimCC logits -> the peak: its centre in bins (the refined maximum, as
    ``decode_simcc`` decodes it), and the height above the median logit (the background:
    logits are defined up to a shift) and width (bins, 0 where the fit is not concave) of
    the Gaussian fitted to the logits above that median."""
    logits = logits.float()
    index = logits.argmax(-1)
    offset = fit_peak(logits, index)[0]
    above = logits - logits.median(-1, keepdim=True).values
    _, log_height, width = fit_peak(above.clamp_min(_EPS).log(), index)
    return index + offset, log_height.exp(), width


def gaussian_labels(centre: Tensor, height: Tensor, sigma: Tensor, size: int) -> Tensor:
    """``height * exp(-(j - centre)^2 / (2 sigma^2))`` over bins j < ``size`` ([..., size]
    for [...] centres, heights and widths): the Gaussian label MMPose's codecs encode, here
    at an unrounded centre."""
    bins = torch.arange(size, device=centre.device, dtype=centre.dtype)
    return height[..., None] * torch.exp(-(bins - centre[..., None])**2 /
                                         (2 * sigma[..., None]**2))


def relative_width(width: Tensor, codec_sigma: float) -> Tensor:
    """A fitted peak's width relative to the Gaussian its codec trains towards (1 where the
    fit is not concave)."""
    return torch.where(width > 0, width / codec_sigma, torch.ones_like(width))


def decode_heatmaps(heatmaps: Tensor, input_size: Tuple[int, int]) -> Tensor:
    """[N, K, H, W] heatmaps -> [N, K, 2] input-space keypoints (refined maxima)."""
    height, width = heatmaps.shape[-2:]
    centre = heatmap_peaks(heatmaps)[0]
    return centre * centre.new_tensor([input_size[0] / width, input_size[1] / height])


def decode_simcc(simcc_x: Tensor, simcc_y: Tensor, input_size: Tuple[int, int]) -> Tensor:
    """SimCC logits ([N, K, Wx], [N, K, Wy]) -> [N, K, 2] input-space keypoints (refined
    maxima; logits are log-densities up to scale and shift)."""
    coords = []
    for logits, extent in zip((simcc_x, simcc_y), input_size):
        logits = logits.float()
        index = logits.argmax(-1)
        bins = index + fit_peak(logits, index)[0]
        coords.append(bins * (extent / logits.shape[-1]))
    return torch.stack(coords, -1)


def _per_keypoint(scale: Optional[Tensor]) -> Optional[Tensor]:
    """A per-sample [N] factor of the KL shaped to broadcast over [N, K, bins]."""
    return None if scale is None else scale[:, None, None]


def _masked_keypoint_mean(per_keypoint: Tensor, weights: Tensor) -> Tensor:
    """[N, K] -> [N]: keypoint weights applied, mean over keypoints (as MMPose's losses)."""
    return (per_keypoint * weights.to(per_keypoint.dtype)).mean(-1)


class HeatmapRep(Representation):
    """Keypoint heatmaps [N, K, H, W] (MMPose heatmap heads).

    The task loss, KeypointMSELoss, averages over samples, keypoints and pixels; both KD terms
    do the same, so that ``distill_weight`` keeps one meaning at any heatmap size.

    Args:
        kd_loss: 'kl' (the paper's KD term on the spatial distributions softmax(10 * h / t) at
            the temperatures, per pixel) or 'mse' (regress the mentor's heatmap; no
            temperature, so Mentoring has no effect).
        sigma: the Gaussian width, in cells, of the targets the head is trained towards
            (``MSRAHeatmap.sigma``).
    """

    name = 'heatmap'
    converts_from = ('simcc', )

    def __init__(self, kd_loss: str = 'kl', sigma: float = 2.0):
        if kd_loss not in ('mse', 'kl'):
            raise ValueError(f"heatmap kd_loss must be 'mse' or 'kl', got {kd_loss!r}")
        self.kd_loss = kd_loss
        self.sigma = float(sigma)

    def log_score(self, out: Tensor, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
        score, valid = keypoint_similarity(decode_heatmaps(out, targets.input_size), targets)
        return score.clamp_min(_EPS).log(), valid

    def kd(self, student: Tensor, mentor: Tensor, t_student: Tensor, t_mentor: Tensor,
           targets: PoseTargets, scale: Optional[Tensor] = None) -> Tensor:
        if self.kd_loss == 'mse':
            per_keypoint = ((student.float() - mentor.float())**2).flatten(2).mean(-1)
        else:
            num_pixels = student.shape[-2] * student.shape[-1]
            per_keypoint = kl_at_temperature(
                HEATMAP_BETA * student.flatten(2), HEATMAP_BETA * mentor.flatten(2),
                t_student[:, None, None], t_mentor[:, None, None],
                scale=_per_keypoint(scale)) / num_pixels
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
            # re-encoded as this codec encodes a keypoint: a Gaussian at the mentor's refined
            # keypoint, its width scaled as the mentor's peak is to its own codec's, and its
            # height the mentor's keypoint score (SimCCLabel's: the smaller of the two)
            peaks = [simcc_peak(z) for z in out]
            axes = [
                gaussian_labels(centre * (size / z.shape[-1]), torch.ones_like(centre),
                                (self.sigma * relative_width(spread, codec_sigma)).clamp(
                                    max=size), size)
                for (centre, _, spread), z, codec_sigma, size in zip(
                    peaks, out, source.sigma, (width, height))
            ]
            score = torch.minimum(peaks[0][1], peaks[1][1])
            return score[..., None, None] * axes[1][..., :, None] * axes[0][..., None, :]
        return super().convert(out, source, like)


class SimCCRep(Representation):
    """SimCC x/y classification vectors ([N, K, Wx], [N, K, Wy]) (RTMPose's RTMCC head).

    The KD term has KLDiscretLoss's scale: the KL of each axis averaged over its bins, summed
    over the axes, averaged over keypoints and summed over the batch, so that
    ``distill_weight`` weighs it against the task loss alike at every batch size.

    Args:
        beta: logit scale of the head's loss (``KLDiscretLoss.beta``, 10 for RTMPose): the
            distributions are softmax(beta * z / t).
        sigma: the (x, y) Gaussian widths, in bins, of the labels the head is trained
            towards (``SimCCLabel.sigma``).
    """

    name = 'simcc'
    converts_from = ('heatmap', )

    def __init__(self, beta: float = 1.0, sigma: Tuple[float, float] = (6.0, 6.0)):
        self.beta = beta
        self.sigma = tuple(float(s) for s in sigma)

    def log_score(self, out, targets: PoseTargets) -> Tuple[Tensor, Tensor]:
        pred = decode_simcc(out[0], out[1], targets.input_size)
        score, valid = keypoint_similarity(pred, targets)
        return score.clamp_min(_EPS).log(), valid

    def kd(self, student, mentor, t_student: Tensor, t_mentor: Tensor,
           targets: PoseTargets, scale: Optional[Tensor] = None) -> Tensor:
        t_s, t_m = t_student[:, None, None], t_mentor[:, None, None]
        per_keypoint = sum(
            kl_at_temperature(self.beta * s, self.beta * m, t_s, t_m, scale=_per_keypoint(scale))
            / s.shape[-1] for s, m in zip(student, mentor))
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
            # logits on the student's scale whose softmax(beta * z) is the mentor's
            # distribution
            return tuple(resample_distribution(p, z.shape[-1]).log() / self.beta
                         for p, z in zip(probs, like))
        if isinstance(source, HeatmapRep):
            # re-encoded as this codec encodes a keypoint (logits z with softmax(beta * z) the
            # distribution KLDiscretLoss trains towards): Gaussian labels at the mentor's
            # refined keypoint, their widths scaled as the mentor's peak is to its own codec's,
            # their height the mentor's keypoint score (its heatmap's peak)
            centre, score, spread = heatmap_peaks(out)
            grid = (out.shape[-1], out.shape[-2])
            return tuple(
                gaussian_labels(centre[..., axis] * (z.shape[-1] / grid[axis]), score,
                                (self.sigma[axis] * relative_width(
                                    spread[..., axis], source.sigma)).clamp(max=z.shape[-1]),
                                z.shape[-1]) for axis, z in enumerate(like))
        return super().convert(out, source, like)
