"""Pure math of classroomkd_plugin.core.pose: keypoint similarity, decoding, KD terms and the
conversions between heatmaps and SimCC."""
import math

import pytest
import torch

from classroomkd_plugin.core import ClassroomSettings, classroom_objective, plan_classroom
from classroomkd_plugin.core.pose import (HeatmapRep, PoseTargets, SimCCRep, decode_heatmaps,
                                          decode_simcc, keypoint_similarity, resample)

INPUT = (192, 256)  # (width, height), COCO 256x192
HEATMAP = (48, 64)  # stride 4
SPLIT = 2.0  # SimCC bins per pixel
SIGMAS = torch.full((17, ), 0.0716)


def gaussian_heatmaps(keypoints: torch.Tensor, size=HEATMAP, sigma: float = 2.0) -> torch.Tensor:
    """[N, K, 2] input-space keypoints -> [N, K, H, W] Gaussian heatmaps peaking at 1 (the
    targets of MMPose's MSRAHeatmap codec, unbiased)."""
    stride_x, stride_y = INPUT[0] / size[0], INPUT[1] / size[1]
    xs = torch.arange(size[0]).float()
    ys = torch.arange(size[1]).float()
    mu_x = keypoints[..., 0, None] / stride_x
    mu_y = keypoints[..., 1, None] / stride_y
    gx = torch.exp(-(xs - mu_x)**2 / (2 * sigma**2))
    gy = torch.exp(-(ys - mu_y)**2 / (2 * sigma**2))
    return gy[..., :, None] * gx[..., None, :]


def simcc_logits(keypoints: torch.Tensor, sigma: float = 4.0):
    """[N, K, 2] input-space keypoints -> SimCC logits whose maxima sit at the keypoints."""
    out = []
    for axis, extent in enumerate(INPUT):
        bins = torch.arange(int(extent * SPLIT)).float()
        mu = keypoints[..., axis, None] * SPLIT
        out.append(torch.exp(-(bins - mu)**2 / (2 * sigma**2)))
    return tuple(out)


def random_keypoints(n: int = 4, k: int = 17, margin: float = 24.0, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    unit = torch.rand(n, k, 2, generator=generator)
    scale = torch.tensor([INPUT[0] - 2 * margin, INPUT[1] - 2 * margin])
    return margin + unit * scale


def targets_for(keypoints: torch.Tensor, weights: torch.Tensor = None) -> PoseTargets:
    if weights is None:
        weights = torch.ones(keypoints.shape[:2])
    return PoseTargets(keypoints, weights, SIGMAS[:keypoints.shape[1]], INPUT)


def test_perfect_prediction_scores_one():
    keypoints = random_keypoints()
    score, valid = keypoint_similarity(keypoints.clone(), targets_for(keypoints))
    assert torch.allclose(score, torch.ones(4))
    assert valid.all()


def test_score_falls_as_the_error_grows():
    keypoints = random_keypoints(n=1)
    targets = targets_for(keypoints)
    errors = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    scores = [keypoint_similarity(keypoints + e, targets)[0].item() for e in errors]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] < 0.5


def test_score_follows_the_formula():
    """ks = mean_k exp(-d^2 / (2 A (2 sigma)^2)), A = W H / 1.25^2."""
    keypoints = random_keypoints(n=1)
    shift = torch.tensor([3.0, 4.0])  # d = 5 px
    score, _ = keypoint_similarity(keypoints + shift, targets_for(keypoints))
    area = INPUT[0] * INPUT[1] / 1.25**2
    expected = math.exp(-25 / (2 * area * (2 * 0.0716)**2))
    assert score.item() == pytest.approx(expected, rel=1e-5)


def test_only_visible_keypoints_count():
    keypoints = random_keypoints(n=1)
    weights = torch.ones(1, 17)
    weights[0, :5] = 0
    pred = keypoints.clone()
    pred[0, :5] += 50.0  # wrong, but invisible
    score, valid = keypoint_similarity(pred, targets_for(keypoints, weights))
    assert score.item() == pytest.approx(1.0)
    assert valid.item()


def test_decoding_is_exact_for_gaussian_peaks():
    keypoints = random_keypoints()
    from_heatmaps = decode_heatmaps(gaussian_heatmaps(keypoints), INPUT)
    from_simcc = decode_simcc(*simcc_logits(keypoints), INPUT)
    assert torch.allclose(from_heatmaps, keypoints, atol=0.02)
    assert torch.allclose(from_simcc, keypoints, atol=0.02)


def test_same_keypoints_score_the_same_as_heatmaps_and_as_simcc():
    truth = random_keypoints(seed=1)
    # predictions 0-12 px off, at sub-pixel positions neither grid holds exactly
    pred = truth + torch.randn(truth.shape, generator=torch.Generator().manual_seed(2)) * 4
    pred = pred.clamp(16, 176)
    targets = targets_for(truth)
    heatmap_score, heatmap_valid = HeatmapRep().log_score(gaussian_heatmaps(pred), targets)
    simcc_score, simcc_valid = SimCCRep(beta=10.0).log_score(simcc_logits(pred), targets)
    assert torch.allclose(heatmap_score, simcc_score, atol=1e-3)
    assert (heatmap_valid == simcc_valid).all()
    assert (heatmap_score < 0).all()  # imperfect predictions: below a score of 1


def test_decoding_handles_flat_and_border_peaks():
    flat = torch.zeros(1, 2, 8, 6)
    assert torch.equal(decode_heatmaps(flat, (24, 32)), torch.zeros(1, 2, 2))
    border = torch.zeros(1, 1, 8, 6)
    border[0, 0, 7, 5] = 1.0
    assert torch.equal(decode_heatmaps(border, (24, 32)), torch.tensor([[[20.0, 28.0]]]))
    negative = -torch.rand(1, 1, 8, 6)  # heatmaps of an untrained head
    assert torch.isfinite(decode_heatmaps(negative, (24, 32))).all()


def test_samples_without_visible_keypoints_take_no_part_in_ranking():
    truth = random_keypoints(n=3)
    weights = torch.ones(3, 17)
    weights[2] = 0  # sample 2: nothing visible
    targets = targets_for(truth, weights)
    rep = SimCCRep(beta=10.0)
    student = simcc_logits(truth + 6.0)
    _, valid = rep.log_score(student, targets)
    assert valid.tolist() == [True, True, False]

    def ranks(mentor_pred):
        plan, _, _ = plan_classroom(rep, student, [simcc_logits(mentor_pred)], [rep], targets,
                                    ClassroomSettings())
        return plan.ranks

    mentor_pred = truth + 1.0
    wild = mentor_pred.clone()
    wild[2] += 60.0  # only the invalid sample changes
    assert torch.allclose(ranks(mentor_pred), ranks(wild))
    worse = mentor_pred.clone()
    worse[0] += 30.0  # a valid sample changes
    assert not torch.allclose(ranks(mentor_pred), ranks(worse))


def test_resample_keeps_the_grid():
    x = torch.arange(8.0)
    assert torch.equal(resample(x, 8), x)
    up = resample(x, 16)  # new point j sits at j / 2
    assert torch.allclose(up[::2], x)
    assert torch.allclose(up[1:15:2], x[:-1] + 0.5)
    down = resample(torch.arange(16.0), 8)  # new point j sits at 2 j, box-averaged
    assert torch.allclose(down[1:7], torch.arange(2.0, 14.0, 2.0))


RTMPOSE_T_SIGMA = (4.9, 5.66)  # RTMPose-t's SimCCLabel sigma, in bins


def mmpose_codecs():
    """MMPose's codecs at 256x192: unbiased heatmap targets (sigma 2 cells, stride 4) and
    RTMPose-t's SimCC labels (2 bins per pixel)."""
    from mmpose.codecs import MSRAHeatmap, SimCCLabel
    return (MSRAHeatmap(input_size=INPUT, heatmap_size=HEATMAP, sigma=2, unbiased=True),
            SimCCLabel(input_size=INPUT, sigma=RTMPOSE_T_SIGMA, simcc_split_ratio=SPLIT,
                       normalize=False))


def encode(codec, keypoints: torch.Tensor) -> dict:
    """[1, K, 2] keypoints through an MMPose codec, as tensors."""
    encoded = codec.encode(keypoints.numpy(), torch.ones(keypoints.shape[:2]).numpy())
    return {key: torch.as_tensor(value) for key, value in encoded.items()}


def test_a_heatmap_mentor_becomes_the_simcc_label_of_its_keypoint():
    """A mentor that outputs its MSRAHeatmap targets converts into the SimCCLabel labels of
    the same keypoints (here on SimCCLabel's half-pixel grid, which it rounds to, and off
    the 4-pixel heatmap grid): RTMPose's own targets, peak to background e^10 under
    KLDiscretLoss's softmax(10 z). A mentor peaking at 0.7 keeps that confidence."""
    heatmap_codec, simcc_codec = mmpose_codecs()
    keypoints = (random_keypoints(n=1, k=40) * 2).round() / 2
    heatmaps = encode(heatmap_codec, keypoints)['heatmaps'][None]
    assert (keypoints % 4 != 0).any(-1).float().mean() > 0.9
    labels = encode(simcc_codec, keypoints)
    like = (torch.zeros(1, 40, 384), torch.zeros(1, 40, 512))
    simcc = SimCCRep(10.0, RTMPOSE_T_SIGMA)
    simcc_x, simcc_y = simcc.convert(heatmaps, HeatmapRep(sigma=2.0), like)
    assert (simcc_x - labels['keypoint_x_labels']).abs().max() < 1e-4
    assert (simcc_y - labels['keypoint_y_labels']).abs().max() < 1e-4
    p = torch.softmax(10.0 * simcc_x, -1)
    assert torch.allclose(p.amax(-1) / p.amin(-1), torch.full((1, 40), math.exp(10.0)),
                          rtol=1e-3)
    unsure_x, _ = simcc.convert(0.7 * heatmaps, HeatmapRep(sigma=2.0), like)
    assert torch.allclose(unsure_x, 0.7 * labels['keypoint_x_labels'], atol=1e-4)


def test_a_simcc_mentor_becomes_the_heatmap_target_of_its_keypoint():
    """The reverse: SimCCLabel labels taken as a mentor's logits convert into the
    MSRAHeatmap targets of the same keypoints (sigma 2 cells: about 17 cells above 0.5,
    against one before re-encoding)."""
    heatmap_codec, simcc_codec = mmpose_codecs()
    keypoints = (random_keypoints(n=1, k=40, seed=1) * 2).round() / 2
    labels = encode(simcc_codec, keypoints)
    logits = (labels['keypoint_x_labels'], labels['keypoint_y_labels'])
    target = encode(heatmap_codec, keypoints)['heatmaps'][None]
    heatmaps = HeatmapRep(sigma=2.0).convert(logits, SimCCRep(10.0, RTMPOSE_T_SIGMA),
                                             torch.zeros(1, 40, 64, 48))
    assert (heatmaps - target).abs().max() < 1e-4
    assert (heatmaps > 0.5).flatten(2).sum(-1).float().mean() > 15
    # logits are defined up to a shift: the background does not count
    shifted = HeatmapRep(sigma=2.0).convert(tuple(z - 3.0 for z in logits),
                                            SimCCRep(10.0, RTMPOSE_T_SIGMA), heatmaps)
    assert torch.allclose(shifted, heatmaps, atol=1e-4)


def test_converted_mentors_decode_to_their_own_keypoints_within_a_tenth_of_a_pixel():
    """Sub-pixel keypoints (anywhere, not on any grid) survive both conversions: the
    converted mentor decodes where the mentor does (and where MMPose's codec put it)."""
    heatmap_codec, _ = mmpose_codecs()
    keypoints = random_keypoints(n=1, k=200, seed=2)
    heatmaps = encode(heatmap_codec, keypoints)['heatmaps'][None]
    own = decode_heatmaps(heatmaps, INPUT)
    assert (own - keypoints).norm(dim=-1).max() < 0.01
    like = (torch.zeros(1, 200, 384), torch.zeros(1, 200, 512))
    simcc = SimCCRep(10.0, RTMPOSE_T_SIGMA)
    converted = decode_simcc(*simcc.convert(heatmaps, HeatmapRep(sigma=2.0), like), INPUT)
    assert (converted - own).norm(dim=-1).max() < 0.1
    # SimCC logits peaking between bins: SimCCLabel's Gaussian at the unrounded keypoints
    logits = tuple(torch.exp(-(torch.arange(n) - keypoints[..., axis, None] * SPLIT)**2 /
                             (2 * RTMPOSE_T_SIGMA[axis]**2)) for axis, n in enumerate((384, 512)))
    own = decode_simcc(*logits, INPUT)
    back = HeatmapRep(sigma=2.0).convert(logits, simcc, torch.zeros(1, 200, 64, 48))
    assert (decode_heatmaps(back, INPUT) - own).norm(dim=-1).max() < 0.1


def test_conversions_carry_the_mentors_spread_relative_to_its_codec():
    """A heatmap peak 1.5x as wide as its codec's (sigma 3 cells, not 2) becomes SimCC labels
    1.5x as wide as the student's codec's (7.5 and 9 bins, not 5 and 6), and back
    (hand-written Gaussians)."""
    xs, ys = torch.arange(48.0), torch.arange(64.0)
    wide = (torch.exp(-(ys - 30.5)**2 / (2 * 3.0**2))[:, None] *
            torch.exp(-(xs - 20.25)**2 / (2 * 3.0**2))[None, :])[None, None]
    wide_x = torch.exp(-(torch.arange(384.0) - 20.25 * 8)**2 / (2 * 7.5**2))  # cell i: bin 8 i
    wide_y = torch.exp(-(torch.arange(512.0) - 30.5 * 8)**2 / (2 * 9.0**2))
    simcc, heatmap = SimCCRep(10.0, (5.0, 6.0)), HeatmapRep(sigma=2.0)
    simcc_x, simcc_y = simcc.convert(wide, heatmap, (torch.zeros(1, 1, 384),
                                                     torch.zeros(1, 1, 512)))
    assert torch.allclose(simcc_x[0, 0], wide_x, atol=1e-4)
    assert torch.allclose(simcc_y[0, 0], wide_y, atol=1e-4)
    back = heatmap.convert((wide_x[None, None], wide_y[None, None]), simcc, wide)
    assert torch.allclose(back, wide, atol=1e-4)


def test_heatmap_resize_keeps_the_peak():
    cells = torch.tensor([[[10, 20], [4, 30]]])
    big = gaussian_heatmaps(cells.float() * 4, size=(48, 64))
    small = HeatmapRep().convert(big, HeatmapRep(), torch.zeros(1, 2, 32, 24))
    index = small.flatten(-2).argmax(-1)
    assert torch.equal(index % 24, cells[..., 0] // 2)
    assert torch.equal(index // 24, cells[..., 1] // 2)
    back = HeatmapRep().convert(small, HeatmapRep(), torch.zeros(1, 2, 64, 48))
    index = back.flatten(-2).argmax(-1)
    assert torch.equal(index % 48, cells[..., 0])
    assert torch.equal(index // 48, cells[..., 1])


def test_same_representation_converts_to_itself():
    heatmaps = torch.rand(2, 3, 16, 12)
    assert HeatmapRep().convert(heatmaps, HeatmapRep(), heatmaps) is heatmaps
    simcc = (torch.rand(2, 3, 24), torch.rand(2, 3, 32))
    assert SimCCRep(10.0).convert(simcc, SimCCRep(10.0), simcc) is simcc


def test_the_conversions_a_classroom_checks_are_those_convert_does():
    """``can_convert`` (checked when the distiller is built) against ``convert`` itself, for
    every pair of classification, heatmap and SimCC outputs."""
    from classroomkd_plugin.core import ClsLogits
    outputs = [(ClsLogits(), torch.randn(2, 5)), (HeatmapRep(), torch.rand(2, 3, 16, 12)),
               (SimCCRep(10.0), (torch.randn(2, 3, 24), torch.randn(2, 3, 32)))]
    for rep, like in outputs:
        for source, out in outputs:
            try:
                rep.convert(out, source, like)
                converts = True
            except ValueError:
                converts = False
            assert rep.can_convert(source) == converts, (rep.name, source.name)
            assert converts == (rep.name == source.name or 'cls' not in (rep.name, source.name))


@pytest.mark.parametrize('rep', [HeatmapRep('mse'), HeatmapRep('kl'), SimCCRep(beta=10.0)],
                         ids=['heatmap-mse', 'heatmap-kl', 'simcc'])
def test_kd_is_zero_for_identical_outputs_and_masked_by_keypoint_weights(rep):
    generator = torch.Generator().manual_seed(3)
    if isinstance(rep, HeatmapRep):
        student = torch.rand(2, 4, 16, 12, generator=generator)
        mentor = torch.rand(2, 4, 16, 12, generator=generator)
    else:
        student = tuple(torch.randn(2, 4, n, generator=generator) for n in (24, 32))
        mentor = tuple(torch.randn(2, 4, n, generator=generator) for n in (24, 32))
    t = torch.full((2, ), 3.0)
    weights = torch.ones(2, 4)
    weights[:, 0] = 0
    targets = PoseTargets(torch.zeros(2, 4, 2), weights, torch.full((4, ), 0.07), (12, 16))
    assert torch.allclose(rep.kd(student, student, t, t, targets), torch.zeros(2), atol=1e-6)
    base = rep.kd(student, mentor, t, t, targets)
    assert (base > 0).all()

    def change_keypoint(out, k):
        parts = (out, ) if isinstance(out, torch.Tensor) else out
        changed = []
        for p in parts:
            p = p.clone()
            p[:, k] = p[:, k] * -3 + 1
            changed.append(p)
        return changed[0] if isinstance(out, torch.Tensor) else tuple(changed)

    masked = rep.kd(student, change_keypoint(mentor, 0), t, t, targets)
    assert torch.allclose(masked, base)  # keypoint 0 has weight 0
    visible = rep.kd(student, change_keypoint(mentor, 1), t, t, targets)
    assert not torch.allclose(visible, base)
    nothing = PoseTargets(targets.keypoints, torch.zeros(2, 4), targets.sigmas, (12, 16))
    assert torch.equal(rep.kd(student, mentor, t, t, nothing), torch.zeros(2))


def test_heatmap_kl_is_the_tempered_kl_of_spatial_softmaxes_per_pixel():
    generator = torch.Generator().manual_seed(4)
    student = torch.rand(1, 2, 16, 12, generator=generator)
    mentor = torch.rand(1, 2, 16, 12, generator=generator)
    targets = PoseTargets(torch.zeros(1, 2, 2), torch.ones(1, 2), torch.full((2, ), 0.07),
                          (12, 16))
    t = 4.0
    log_p_mentor = torch.log_softmax(10 * mentor.flatten(2) / t, -1)
    log_p_student = torch.log_softmax(10 * student.flatten(2) / t, -1)
    kl = (log_p_mentor.exp() * (log_p_mentor - log_p_student)).sum(-1)
    expected = (t * t * kl / (16 * 12)).mean(-1)
    got = HeatmapRep('kl').kd(student, mentor, torch.full((1, ), t), torch.full((1, ), t),
                              targets)
    assert torch.allclose(got, expected)


def test_heatmap_mse_ignores_temperature():
    student, mentor = torch.rand(1, 2, 8, 6), torch.rand(1, 2, 8, 6)
    targets = PoseTargets(torch.zeros(1, 2, 2), torch.ones(1, 2), torch.full((2, ), 0.07),
                          (24, 32))
    rep = HeatmapRep('mse')
    assert torch.equal(rep.kd(student, mentor, torch.ones(1), torch.ones(1), targets),
                       rep.kd(student, mentor, torch.full((1, ), 7.0), torch.full((1, ), 7.0),
                              targets))


def test_half_precision_mentor_outputs_convert_to_float():
    keypoints = random_keypoints(n=2, k=3)
    heatmaps = gaussian_heatmaps(keypoints).to(torch.bfloat16)
    like = (torch.zeros(2, 3, 384), torch.zeros(2, 3, 512))
    converted = SimCCRep(beta=10.0).convert(heatmaps, HeatmapRep(), like)
    assert all(z.dtype == torch.float32 and torch.isfinite(z).all() for z in converted)
    simcc = tuple(z.to(torch.bfloat16) for z in simcc_logits(keypoints))
    back = HeatmapRep().convert(simcc, SimCCRep(beta=10.0), torch.zeros(2, 3, 64, 48))
    assert back.dtype == torch.float32 and torch.isfinite(back).all()
    assert torch.allclose(decode_heatmaps(heatmaps, INPUT), keypoints, atol=1.0)


def test_unknown_heatmap_kd_is_rejected():
    with pytest.raises(ValueError, match="heatmap kd_loss must be 'mse' or 'kl'"):
        HeatmapRep('l1')


@pytest.mark.parametrize('student_rep', ['simcc', 'heatmap'])
def test_pose_math_stays_on_the_device_of_its_inputs(student_rep):
    """The meta device stands in for a GPU: any tensor made on the CPU and mixed with the
    inputs raises."""
    device = torch.device('meta')
    targets = PoseTargets(torch.rand(2, 3, 2, device=device), torch.ones(2, 3, device=device),
                          torch.full((3, ), 0.07, device=device), INPUT)
    heatmaps = torch.rand(2, 3, 64, 48, device=device)
    small_heatmaps = torch.rand(2, 3, 32, 24, device=device)
    simcc = tuple(torch.rand(2, 3, n, device=device) for n in (384, 512))
    heatmap_rep, simcc_rep = HeatmapRep('kl'), SimCCRep(beta=10.0)
    if student_rep == 'simcc':
        rep, student = simcc_rep, simcc
        mentors, reps = [heatmaps, simcc], [heatmap_rep, simcc_rep]
    else:
        rep, student = heatmap_rep, heatmaps
        mentors, reps = [simcc, small_heatmaps], [simcc_rep, heatmap_rep]
    result = classroom_objective(rep, student, mentors, reps, targets,
                                 lambda weight: heatmaps.sum(), ClassroomSettings())
    assert result.loss_kd.device == device and result.loss_task.device == device
