"""ClassroomKD's core against values computed by hand (pure PyTorch, no MMEngine)."""
import math

import pytest
import torch

from classroomkd_plugin.core import (ClassroomSettings, ClsLogits, classroom_objective,
                                     make_plan, performance, rank_scores)

CLS = ClsLogits()


def logits_with_true_prob(p: float) -> list:
    """Two-class logits whose softmax gives class 0 the probability p."""
    return [math.log(p / (1 - p)), 0.0]


def objective(student, mentors, labels, **settings):
    rep = CLS
    return classroom_objective(rep, student, mentors, [rep] * len(mentors), labels,
                               lambda weight: _ce(student, labels, weight),
                               ClassroomSettings(**settings))


def _ce(student, labels, weight):
    per_sample = torch.nn.functional.cross_entropy(student, labels, reduction='none')
    return (per_sample if weight is None else per_sample * weight).mean()


def kd_by_hand(p_student: float, p_mentor: float, t: float) -> float:
    """t^2 KL(softmax(z_m / t) || softmax(z_s / t)) for two-class logits log(p/(1-p)), 0."""

    def soften(p):
        a = (p / (1 - p))**(1 / t)
        return [a / (a + 1), 1 / (a + 1)]

    q_s, q_m = soften(p_student), soften(p_mentor)
    return t * t * sum(m * math.log(m / s) for m, s in zip(q_m, q_s))


def test_one_mentor_by_hand():
    student = torch.tensor([logits_with_true_prob(0.5)] * 2, requires_grad=True)
    mentor = torch.tensor([logits_with_true_prob(0.75)] * 2, requires_grad=True)
    labels = torch.tensor([0, 0])
    result = objective(student, [mentor], labels)
    # w_s = 0.5, w_m = 0.75; K = 1: r = w / (w_s + w_m)
    r_s, r_m = 0.5 / 1.25, 0.75 / 1.25
    t = 1 + 12 * (r_m - r_s) / r_m
    assert result.plan.ranks[:, 0].tolist() == pytest.approx([r_s, r_m])
    assert result.plan.temperature.item() == pytest.approx(t)
    assert result.plan.active.item()
    assert result.loss_task.item() == pytest.approx(0.5 * math.log(2), rel=1e-5)
    assert result.loss_kd.item() == pytest.approx(r_m * kd_by_hand(0.5, 0.75, t), rel=1e-4)

    (result.loss_task + result.loss_kd).backward()
    assert mentor.grad is None  # the gradient reaches the student only
    assert student.grad.abs().sum() > 0


def test_distill_weight_scales_the_kd_term_only():
    student = torch.tensor([logits_with_true_prob(0.5)] * 2)
    mentor = torch.tensor([logits_with_true_prob(0.75)] * 2)
    result = objective(student, [mentor], torch.tensor([0, 0]), distill_weight=0.25)
    r_m = 0.75 / 1.25
    t = 1 + 12 * (r_m - 0.5 / 1.25) / r_m
    assert result.loss_kd.item() == pytest.approx(0.25 * r_m * kd_by_hand(0.5, 0.75, t),
                                                  rel=1e-4)
    assert result.loss_task.item() == pytest.approx(0.5 * math.log(2), rel=1e-5)


def test_weights_temperatures_and_mask_carry_no_gradient():
    torch.manual_seed(0)
    student = torch.randn(6, 5, requires_grad=True)
    mentors = [torch.randn(6, 5) for _ in range(3)]
    labels = torch.randint(0, 5, (6, ))
    result = objective(student, mentors, labels)
    (result.loss_task + result.loss_kd).backward()
    grad = student.grad.clone()

    # the same loss with the plan's numbers as constants
    plan = result.plan
    student.grad = None
    rebuilt = float(plan.task_weight) * _ce(student, labels, None)
    for k, mentor in enumerate(mentors):
        t = float(plan.temperature[k])
        kd = CLS.kd(student, mentor, torch.full((6, ), t), torch.full((6, ), t), labels)
        rebuilt = rebuilt + float(plan.kd_weight[k]) * kd.mean()
    rebuilt.backward()
    assert torch.allclose(grad, student.grad, atol=1e-6)


FIVE = torch.tensor([0.5, 0.9, 0.3, 0.5, 0.7, 0.1])[:, None]  # student first, K = 5
USABLE = torch.ones(6, 1, dtype=torch.bool)


def test_five_mentors_weighted_ranking_with_a_tie():
    plan = make_plan(FIVE, USABLE, base_temperature=12.0)
    r = [5 * w / 3.0 for w in FIVE[:, 0].tolist()]
    assert plan.ranks[:, 0].tolist() == pytest.approx(r)
    # mentor 3 ties with the student and teaches; mentors 2 and 5 rank below it
    assert plan.active[:, 0].tolist() == [True, False, True, True, False]
    gap = [abs(r[m] - r[0]) / max(r[m], r[0]) for m in range(1, 6)]
    assert plan.temperature[:, 0].tolist() == pytest.approx([1 + 12 * g for g in gap])
    assert plan.temperature[2, 0].item() == pytest.approx(1.0)
    assert plan.kd_weight[:, 0].tolist() == pytest.approx([r[1], 0, r[3], r[4], 0])
    assert plan.task_weight.item() == pytest.approx(0.5)


def test_uniform_ranking_is_method_b():
    plan = make_plan(FIVE, USABLE, ranking='uniform')
    # ascending w: m5, m2, student (ties keep the student first), m3, m4, m1
    assert plan.ranks[:, 0].tolist() == pytest.approx([0.3, 0.6, 0.2, 0.4, 0.5, 0.1])
    assert plan.active[:, 0].tolist() == [True, False, True, True, False]


def test_all_mentors_worse_than_the_student():
    student = torch.tensor([logits_with_true_prob(0.9)] * 3)
    mentors = [torch.tensor([logits_with_true_prob(p)] * 3) for p in (0.6, 0.3)]
    result = objective(student, mentors, torch.zeros(3, dtype=torch.long))
    assert not result.plan.active.any()
    assert result.loss_kd.item() == 0
    assert result.loss_task.item() == pytest.approx(0.9 * -math.log(0.9), rel=1e-5)


def test_without_knowledge_filtering_every_mentor_teaches_with_weight_one():
    plan = make_plan(FIVE, USABLE, knowledge_filtering=False)
    assert plan.active.all()
    assert plan.kd_weight.eq(1).all()
    assert plan.task_weight.item() == 1
    assert plan.temperature[:, 0].tolist() == pytest.approx(
        make_plan(FIVE, USABLE).temperature[:, 0].tolist())


def test_task_weighting_off_holds_the_task_weight_at_one_and_keeps_the_filter():
    plan = make_plan(FIVE, USABLE, task_weighting=False)
    assert plan.task_weight.item() == 1  # 0.5 with it (the test above)
    r = [5 * w / 3.0 for w in FIVE[:, 0].tolist()]
    assert plan.active[:, 0].tolist() == [True, False, True, True, False]
    assert plan.kd_weight[:, 0].tolist() == pytest.approx([r[1], 0, r[3], r[4], 0])
    from classroomkd_plugin.models.losses import ClassroomKDLoss
    with pytest.raises(ValueError, match="task_weighting=False.*strategy='kd'"):
        ClassroomKDLoss(strategy='kd', task_weighting=False)


def test_without_mentoring_every_temperature_is_t0():
    plan = make_plan(FIVE, USABLE, mentoring=False, base_temperature=4.0)
    assert plan.temperature.eq(4.0).all()
    assert plan.active[:, 0].tolist() == [True, False, True, True, False]


def test_sample_granularity_ranks_each_sample():
    # the mentor is better on sample 0 and worse on sample 1
    student = torch.tensor([logits_with_true_prob(0.5), logits_with_true_prob(0.8)])
    mentor = torch.tensor([logits_with_true_prob(0.75), logits_with_true_prob(0.2)])
    labels = torch.tensor([0, 0])
    result = objective(student, [mentor], labels, granularity='sample')
    plan = result.plan
    assert plan.active[0].tolist() == [True, False]
    r_s0, r_m0 = 0.5 / 1.25, 0.75 / 1.25
    t0 = 1 + 12 * (r_m0 - r_s0) / r_m0
    assert plan.temperature[0, 0].item() == pytest.approx(t0)
    assert plan.task_weight.tolist() == pytest.approx([0.5, 0.8])
    task = (0.5 * -math.log(0.5) + 0.8 * -math.log(0.8)) / 2
    assert result.loss_task.item() == pytest.approx(task, rel=1e-5)
    assert result.loss_kd.item() == pytest.approx(r_m0 * kd_by_hand(0.5, 0.75, t0) / 2,
                                                  rel=1e-4)


def test_batch_performance_geometric_and_arithmetic():
    log_p = torch.log(torch.tensor([[0.2, 0.8], [0.5, 0.5]]))
    valid = torch.ones(2, dtype=torch.bool)
    finite = torch.ones(2, 2, dtype=torch.bool)
    w, _ = performance(log_p, valid, finite, mode='geometric')
    assert w[:, 0].tolist() == pytest.approx([0.4, 0.5])  # sqrt(0.2 * 0.8)
    w, _ = performance(log_p, valid, finite, mode='arithmetic')
    assert w[:, 0].tolist() == pytest.approx([0.5, 0.5])


def test_a_nonfinite_mentor_sits_the_batch_out():
    student = torch.tensor([logits_with_true_prob(0.5)] * 2, requires_grad=True)
    good = torch.tensor([logits_with_true_prob(0.75)] * 2)
    bad = torch.tensor([[float('nan'), 0.0], [1.0, 0.0]])
    result = objective(student, [good, bad], torch.tensor([0, 0]))
    assert result.nonfinite.tolist() == [False, True]
    assert result.plan.active[:, 0].tolist() == [True, False]
    # the others rank as if it were absent (K stays 2)
    assert result.plan.ranks[:, 0].tolist() == pytest.approx([2 * 0.5 / 1.25, 2 * 0.75 / 1.25, 0])
    loss = result.loss_task + result.loss_kd
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()


def test_rank_scores_leave_out_unusable_models():
    w = torch.tensor([[0.5], [0.5], [0.9]])
    usable = torch.tensor([[True], [True], [False]])
    assert rank_scores(w, usable)[:, 0].tolist() == pytest.approx([1.0, 1.0, 0.0])
    assert rank_scores(w, usable, 'uniform')[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.0])


def test_rank_rounding_by_hand():
    # two groups (sample granularity), K = 2; shares 0.123 / 1.368 = 0.0899 -> 0.09,
    # 0.456 / 1.368 = 0.3333 -> 0.33, 0.789 / 1.368 = 0.5768 -> 0.58; and 0.2 / 0.5 / 0.3 exact
    w = torch.tensor([[0.123, 0.2], [0.456, 0.5], [0.789, 0.3]])
    usable = torch.ones(3, 2, dtype=torch.bool)
    rounded = rank_scores(w, usable, share_decimals=2)
    assert rounded[:, 0].tolist() == pytest.approx([0.18, 0.66, 1.16], abs=1e-6)
    assert rounded[:, 1].tolist() == pytest.approx([0.4, 1.0, 0.6], abs=1e-6)
    assert rank_scores(w, usable)[:, 0].tolist() == pytest.approx(
        [0.179825, 0.666667, 1.153509], abs=1e-6)
    # Method B has no shares to round
    assert torch.equal(rank_scores(w, usable, 'uniform', share_decimals=2),
                       rank_scores(w, usable, 'uniform'))


def test_rank_rounding_can_change_who_teaches():
    # w_s = 0.334, mentor 1 0.326, mentor 2 0.340 (sum 1, K = 2): exact r = 0.668, 0.652, 0.68
    # keeps mentor 1 out; rounded shares 0.33, 0.33, 0.34 give r = 0.66, 0.66, 0.68, a tie
    w = torch.tensor([0.334, 0.326, 0.340])[:, None]
    usable = torch.ones(3, 1, dtype=torch.bool)
    exact = make_plan(w, usable, base_temperature=12.0)
    assert exact.active[:, 0].tolist() == [False, True]
    rounded = make_plan(w, usable, base_temperature=12.0, share_decimals=2)
    assert rounded.ranks[:, 0].tolist() == pytest.approx([0.66, 0.66, 0.68], abs=1e-6)
    assert rounded.active[:, 0].tolist() == [True, True]
    assert rounded.kd_weight[:, 0].tolist() == pytest.approx([0.66, 0.68], abs=1e-6)
    assert rounded.temperature[:, 0].tolist() == pytest.approx([1.0, 1 + 12 * 0.02 / 0.68],
                                                               abs=1e-5)
    assert rounded.task_weight.item() == pytest.approx(0.334)  # w_s itself is not rounded
