"""Precision and sharpness of the conversions between heatmap and SimCC mentors.

MMPose's own codecs give the ground truth: mentors that output exactly their training targets
(``MSRAHeatmap(unbiased=True, sigma=2)`` heatmaps, ``SimCCLabel`` labels as logits) for
keypoints at sub-pixel positions in a 256x192 input, converted into the other representation
(RTMPose-t's ``SimCCLabel(sigma=(4.9, 5.66), simcc_split_ratio=2)``, a 64x48 heatmap). It prints

- heatmap -> SimCC: the distance between the converted mentor's decoded keypoint and the true
  one (and the mentor's own decoding), the peak-to-background ratio of softmax(10 z) and its
  mass within 4 px of the keypoint, next to the same for the SimCC labels RTMPose is trained
  towards; also for a mentor whose heatmaps peak at 0.7;
- SimCC -> heatmap: the decoding distance, and the number of cells above 0.5 next to that of
  the MSRAHeatmap targets.

Usage: python tools/benchmark_pose_conversion.py [--keypoints 200] [--seed 0]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmpose.codecs import MSRAHeatmap, SimCCLabel  # noqa: E402

from classroomkd_plugin.core.pose import (HeatmapRep, SimCCRep, decode_heatmaps,  # noqa: E402
                                          decode_simcc)

INPUT = (192, 256)  # (width, height)
HEATMAP = (48, 64)
SIMCC_SIGMA = (4.9, 5.66)  # RTMPose-t's, in bins
SPLIT = 2.0
BETA = 10.0  # RTMPose's KLDiscretLoss
WITHIN = 4.0  # px


def sharpness(logits: torch.Tensor, centre_px: torch.Tensor):
    """Mean peak-to-background ratio of softmax(BETA z) and its mass within WITHIN px of
    the keypoints."""
    p = torch.softmax(BETA * logits, -1)
    bins = torch.arange(logits.shape[-1], dtype=torch.float32)
    near = (bins - centre_px[..., None] * SPLIT).abs() <= WITHIN * SPLIT
    return (p.amax(-1) / p.amin(-1)).mean().item(), (p * near).sum(-1).mean().item()


def distance(a: torch.Tensor, b: torch.Tensor):
    d = (a - b).norm(dim=-1)
    return d.mean().item(), d.max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--keypoints', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    heatmap_codec = MSRAHeatmap(input_size=INPUT, heatmap_size=HEATMAP, sigma=2, unbiased=True)
    simcc_codec = SimCCLabel(input_size=INPUT, sigma=SIMCC_SIGMA, simcc_split_ratio=SPLIT,
                             normalize=False)
    heatmap_rep, simcc_rep = HeatmapRep(sigma=2.0), SimCCRep(BETA, SIMCC_SIGMA)
    rng = np.random.default_rng(args.seed)
    keypoints = rng.uniform([20, 20], [INPUT[0] - 20, INPUT[1] - 20],
                            (1, args.keypoints, 2)).astype(np.float32)
    truth = torch.as_tensor(keypoints)
    visible = np.ones(keypoints.shape[:2], dtype=np.float32)
    like_simcc = tuple(torch.zeros(1, args.keypoints, int(n * SPLIT)) for n in INPUT)

    print(f'{args.keypoints} keypoints at sub-pixel positions in a {INPUT[1]}x{INPUT[0]} input')
    print('\nheatmap -> SimCC (RTMPose-t bins)')
    print('| mentor | decoded - true keypoint, mean / max px | decoded - mentor\'s own '
          f'decoding, max px | softmax(10 z): peak / background | mass within {WITHIN:g} px |')
    print('| --- | --- | --- | --- | --- |')
    heatmaps = torch.as_tensor(heatmap_codec.encode(keypoints, visible)['heatmaps'])[None]
    for name, scale in (('MSRAHeatmap target', 1.0), ('the same, peak 0.7', 0.7)):
        mentor = heatmaps * scale
        converted = simcc_rep.convert(mentor, heatmap_rep, like_simcc)
        decoded = decode_simcc(*converted, INPUT)
        own = decode_heatmaps(mentor, INPUT)
        ratio, mass = sharpness(converted[0], truth[..., 0])
        mean, worst = distance(decoded, truth)
        print(f'| {name} | {mean:.4f} / {worst:.4f} | {distance(decoded, own)[1]:.4f} | '
              f'{ratio:.0f} | {mass:.3f} |')
    labels = simcc_codec.encode(keypoints, visible)
    rounded = torch.as_tensor(np.around(keypoints * SPLIT) / SPLIT)
    ratio, mass = sharpness(torch.as_tensor(labels['keypoint_x_labels']), rounded[..., 0])
    print(f'| (SimCCLabel targets, for reference) | | | {ratio:.0f} | {mass:.3f} |')

    print('\nSimCC (RTMPose-t labels as logits) -> heatmap (64x48, stride 4)')
    print('| mentor | decoded - mentor\'s own decoding, max px | cells above 0.5 (mean) |')
    print('| --- | --- | --- |')
    logits = tuple(torch.as_tensor(labels[key]) for key in ('keypoint_x_labels',
                                                           'keypoint_y_labels'))
    converted = heatmap_rep.convert(logits, simcc_rep, torch.zeros(1, args.keypoints,
                                                                  HEATMAP[1], HEATMAP[0]))
    own = decode_simcc(*logits, INPUT)
    cells = (converted > 0.5).flatten(2).sum(-1).float().mean().item()
    print(f'| SimCCLabel target | {distance(decode_heatmaps(converted, INPUT), own)[1]:.4f} | '
          f'{cells:.1f} |')
    # SimCCLabel rounds keypoints to bins; a trained head peaks anywhere: its formula, unrounded
    unrounded = tuple(
        torch.exp(-(torch.arange(int(n * SPLIT)) - truth[..., axis, None] * SPLIT)**2 /
                  (2 * SIMCC_SIGMA[axis]**2)) for axis, n in enumerate(INPUT))
    converted = heatmap_rep.convert(unrounded, simcc_rep, converted)
    mean, worst = distance(decode_heatmaps(converted, INPUT), truth)
    print(f'| SimCCLabel\'s Gaussian at the unrounded keypoint | decoded - true keypoint: '
          f'{mean:.4f} / {worst:.4f} (mean / max) | '
          f'{(converted > 0.5).flatten(2).sum(-1).float().mean().item():.1f} |')
    reference = torch.as_tensor(heatmap_codec.encode(rounded.numpy(), visible)['heatmaps'])
    print(f'| (MSRAHeatmap targets, for reference) | | '
          f'{(reference > 0.5).flatten(1).sum(-1).float().mean().item():.1f} |')


if __name__ == '__main__':
    main()
