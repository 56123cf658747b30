"""``temperature='dtkd'`` in its two variants, against numbers written out here.

The expected values were computed once, outside this project, from the formulas alone (numpy,
float64): w_c = exp(mean_n log p_c(y_n)), r = K w / sum w, mentor m teaches iff r_m >= r_s
with weight r_m, the task loss is w_s * CE; x the max logit of a sample;
- 'authors_code': T_m = 2 x_s / (x_s + x_m) * T0, T_s = 2 x_m / (x_s + x_m) * T0, and the
  term r_m * mean_n KL_n * mean_n (T_s T_m);
- 'paper': T_m = 2 x_m / (x_s + x_m) * T0, T_s = 2 x_s / (x_s + x_m) * T0, and the term
  r_m * mean_n (T_s T_m KL_n);
with KL_n = KL(softmax(z_m / T_m) || softmax(z_s / T_s)).
"""
import pytest
import torch

from classroomkd_plugin.core import make_plan
from classroomkd_plugin.core.pose import HeatmapRep, PoseTargets, SimCCRep
from classroomkd_plugin.models.losses import ClassroomKDLoss

T0 = 4.0
STUDENT = torch.tensor([[2.0, 1.0, 0.5], [0.3, 1.5, 0.2]])
MENTORS = [torch.tensor([[3.0, 0.5, -1.0], [0.1, 2.5, 0.4]]),
           torch.tensor([[1.0, 0.2, 0.1], [0.5, 4.0, 1.0]])]
LABELS = torch.tensor([0, 1])


def loss(**settings):
    return ClassroomKDLoss(temperature='dtkd', base_temperature=T0, **settings)(
        STUDENT, MENTORS, LABELS)


def test_authors_code_variant_by_the_numbers():
    out = loss(dtkd_variant='authors_code')
    # both mentors rank above the student (r = 0.573529, 0.785452, 0.641019) and teach
    assert out['r_s'].item() == pytest.approx(0.57352936, rel=1e-5)
    assert out['active_mentor1'].item() == out['active_mentor2'].item() == 1
    # the mentors' temperatures follow the student's max logits: [3.2, 3.0], [5.3333, 2.1818]
    assert out['t_mentor1'].item() == pytest.approx(3.1, rel=1e-6)
    assert out['t_mentor2'].item() == pytest.approx((5.33333333 + 2.18181818) / 2, rel=1e-6)
    assert out['loss_kd'].item() == pytest.approx(1.51286302, rel=1e-5)
    assert out['loss_task'].item() == pytest.approx(0.29001744, rel=1e-5)


def test_authors_code_variant_per_sample_weights_stay_inside_the_batch_mean():
    # granularity='sample': mentor 2 ranks below the student on sample 0, so it teaches on
    # sample 1 only; the batch mean of T_s T_m still runs over both samples
    out = loss(dtkd_variant='authors_code', granularity='sample')
    assert out['active_mentor2'].item() == 0.5
    assert out['loss_kd'].item() == pytest.approx(1.65780839, rel=1e-5)
    assert out['loss_task'].item() == pytest.approx(0.29000292, rel=1e-5)


def test_paper_variant_is_unchanged_and_the_default():
    for settings in (dict(), dict(dtkd_variant='paper')):
        out = loss(**settings)
        assert out['t_mentor1'].item() == pytest.approx(4.9, rel=1e-6)  # [4.8, 5.0]
        assert out['loss_kd'].item() == pytest.approx(0.0811639546, rel=1e-5)
        assert out['loss_task'].item() == pytest.approx(0.29001744, rel=1e-5)


def test_authors_code_variant_keeps_t0_where_a_max_logit_is_not_positive():
    w = torch.tensor([[0.5], [0.8]])
    usable = torch.ones_like(w, dtype=torch.bool)
    sharpness = torch.tensor([[2.0, -1.0, 3.0], [6.0, 3.0, 0.0]])  # student, mentor
    plan = make_plan(w, usable, temperature='dtkd', sharpness=sharpness, base_temperature=T0,
                     dtkd_variant='authors_code')
    assert plan.temperature[0].tolist() == pytest.approx([2.0, 4.0, 4.0])
    assert plan.student_temperature[0].tolist() == pytest.approx([6.0, 4.0, 4.0])
    assert plan.kd_scale.shape == (1, 1)  # one factor per mentor and batch
    assert plan.kd_scale.item() == pytest.approx((12.0 + 16.0 + 16.0) / 3)
    paper = make_plan(w, usable, temperature='dtkd', sharpness=sharpness, base_temperature=T0)
    assert paper.kd_scale is None


@pytest.mark.parametrize('settings, message', [
    (dict(temperature='dtkd', dtkd_variant='authors'), r"dtkd_variant='authors' is not one of"),
    (dict(dtkd_variant='authors_code'), r"dtkd_variant='authors_code' .* needs "
     r"temperature='dtkd', got temperature='mentoring'"),
    (dict(dtkd_variant='paper'), r"dtkd_variant='paper' .* needs temperature='dtkd'"),
])
def test_bad_dtkd_variant(settings, message):
    with pytest.raises(ValueError, match=message):
        ClassroomKDLoss(**settings)


def test_pose_kl_terms_take_the_scale_and_mse_ignores_it():
    torch.manual_seed(0)
    targets = PoseTargets(torch.zeros(2, 3, 2), torch.ones(2, 3), torch.ones(3), (8, 8))
    t_s, t_m = torch.tensor([2.0, 3.0]), torch.tensor([1.5, 4.0])
    simcc = [(torch.randn(2, 3, 16), torch.randn(2, 3, 16)) for _ in range(2)]
    heatmaps = [torch.rand(2, 3, 4, 4) for _ in range(2)]
    for rep, (student, mentor) in ((SimCCRep(beta=10.0), simcc),
                                   (HeatmapRep('kl'), heatmaps)):
        base = rep.kd(student, mentor, t_s, t_m, targets)
        assert torch.allclose(rep.kd(student, mentor, t_s, t_m, targets, t_s * t_m), base)
        doubled = rep.kd(student, mentor, t_s, t_m, targets, 2 * t_s * t_m)
        assert torch.allclose(doubled, 2 * base)
    mse = HeatmapRep('mse')
    assert torch.equal(mse.kd(*heatmaps, t_s, t_m, targets, torch.full((2, ), 9.0)),
                       mse.kd(*heatmaps, t_s, t_m, targets))


def test_single_teacher_kd_takes_dtkd_temperatures_by_the_numbers():
    # DTKD's own setting: the first mentor alone, weight 1, the task loss unweighted (CE 0.4589);
    # the teacher's temperatures [4.8, 5.0] and the student's [3.2, 3.0] (paper), exchanged in
    # the authors' variant, whose KL mean is scaled by the mean of T_s T_m
    paper = loss(strategy='kd')
    assert paper['t_mentor1'].item() == pytest.approx(4.9, rel=1e-6)
    assert paper['loss_kd'].item() == pytest.approx(0.0907638988, rel=1e-5)
    assert paper['loss_task'].item() == pytest.approx(0.4589074217, rel=1e-5)
    authors = loss(strategy='kd', dtkd_variant='authors_code')
    assert authors['t_mentor1'].item() == pytest.approx(3.1, rel=1e-6)
    assert authors['loss_kd'].item() == pytest.approx(0.7939531888, rel=1e-5)


@pytest.mark.parametrize('strategy', ['nokd', 'aver', 'dgkd', 'camkd'])
def test_dtkd_temperatures_are_refused_for_the_other_baselines(strategy):
    with pytest.raises(ValueError, match=f"strategy='{strategy}' keeps T0"):
        ClassroomKDLoss(strategy=strategy, temperature='dtkd')
