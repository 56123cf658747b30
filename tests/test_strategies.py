"""Every strategy of ClassroomKDLoss against its defining property, with the expected values
computed here from the formulas (float64 softmax and KL, not the code under test)."""
import itertools

import pytest
import torch
from mmengine.registry import MODELS
from mmpretrain.structures import DataSample

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.core import make_plan
from classroomkd_plugin.models import ClassroomKDLoss

T0 = 4.0
STUDENT_CONFIG = 'configs/cls/digits/resnet8_digits.py'


def softmax_t(logits: torch.Tensor, t) -> torch.Tensor:
    z = logits.double() / torch.as_tensor(t, dtype=torch.float64).reshape(-1, 1)
    e = (z - z.max(-1, keepdim=True).values).exp()
    return e / e.sum(-1, keepdim=True)


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) of every row."""
    return (p * (p.log() - q.log())).sum(-1)


def hinton(student: torch.Tensor, mentor: torch.Tensor, t: float) -> torch.Tensor:
    """Per-sample t^2 KL(softmax(mentor / t) || softmax(student / t)) (Hinton et al. 2015)."""
    return t * t * kl(softmax_t(mentor, t), softmax_t(student, t))


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample -log softmax(logits)[label]."""
    z = logits.double()
    log_p = z - z.exp().sum(-1, keepdim=True).log()
    return -log_p[torch.arange(len(labels)), labels]


def classroom(num_mentors: int = 3, seed: int = 0):
    """Student logits and mentors of increasing noise (so of decreasing quality) on 8 samples
    of 5 classes; every max logit is positive."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 5, (8, ), generator=gen)
    one_hot = torch.nn.functional.one_hot(labels, 5).float()
    student = torch.randn(8, 5, generator=gen) + 0.5 * one_hot + 2.0
    mentors = [3.0 * one_hot + (1.0 + k) * torch.randn(8, 5, generator=gen) + 2.0
               for k in range(num_mentors)]
    return student, mentors, labels


def loss_of(student, mentors, labels, **settings):
    settings.setdefault('base_temperature', T0)
    return ClassroomKDLoss(**settings)(student, mentors, labels)


def distiller(mentors, **loss):
    return MODELS.build(dict(type='ClassroomDistiller', student=STUDENT_CONFIG, mentors=mentors,
                             distill_loss=loss))


def test_nokd_is_the_task_loss_alone():
    student, mentors, labels = classroom()
    out = loss_of(student, mentors, labels, strategy='nokd')
    assert out['loss_kd'].item() == 0
    assert out['loss_task'].item() == pytest.approx(cross_entropy(student, labels).mean().item(),
                                                    rel=1e-6)


def test_nokd_distiller_loads_no_mentor_and_trains_like_the_stock_student(digits_mentors):
    # a mentor whose checkpoint does not exist: nokd neither loads nor runs it
    mentors = [dict(digits_mentors[0], checkpoint='does/not/exist.pth'), digits_mentors[1]]
    model = distiller(mentors, strategy='nokd').train()
    assert len(model.mentors) == 0
    torch.manual_seed(0)
    inputs = torch.randn(6, 3, 16, 16)
    samples = [DataSample().set_gt_label(i % 10) for i in range(6)]
    losses = model(inputs, samples, mode='loss')
    stock = model.student.loss(inputs, samples)['loss']
    assert losses['loss_kd'].item() == 0
    assert losses['loss_task'].item() == pytest.approx(stock.item(), rel=1e-6)
    assert model.pop_stats() == {}  # nothing to rank, nothing logged


def test_kd_is_hinton_kd_from_the_first_mentor_at_t0():
    student, mentors, labels = classroom()
    out = loss_of(student, mentors, labels, strategy='kd')
    assert out['loss_kd'].item() == pytest.approx(
        hinton(student, mentors[0], T0).mean().item(), rel=1e-5)
    assert out['loss_task'].item() == pytest.approx(cross_entropy(student, labels).mean().item(),
                                                    rel=1e-6)
    assert out['t_mentor1'].item() == T0
    assert [out[f'active_mentor{k}'].item() for k in (1, 2, 3)] == [1, 0, 0]
    # the other mentors do not matter
    others = [mentors[0]] + [torch.randn(8, 5) for _ in mentors[1:]]
    assert loss_of(student, others, labels, strategy='kd')['loss_kd'].item() == pytest.approx(
        out['loss_kd'].item(), rel=1e-6)


def test_kd_distiller_builds_the_teacher_alone(digits_mentors):
    mentors = [digits_mentors[0], dict(digits_mentors[1], checkpoint='does/not/exist.pth')]
    model = distiller(mentors, strategy='kd').train()  # training starts: mentors are built
    assert len(model.mentors) == 1
    model(torch.randn(4, 3, 16, 16), [DataSample().set_gt_label(i) for i in range(4)],
          mode='loss')
    assert set(model.pop_stats()) == {'r_s', 'w_s', 'r_resnet20', 't_resnet20', 'ts_resnet20',
                                      'active_resnet20', 'nonfinite_resnet20'}


def test_aver_is_the_mean_of_the_fixed_temperature_kd_terms():
    student, mentors, labels = classroom()
    out = loss_of(student, mentors, labels, strategy='aver')
    expected = torch.stack([hinton(student, m, T0).mean() for m in mentors]).mean()
    # float32 KL of such close distributions is good to about 1e-7; the terms are ~1e-4
    assert out['loss_kd'].item() == pytest.approx(expected.item(), abs=1e-6)
    assert out['loss_task'].item() == pytest.approx(cross_entropy(student, labels).mean().item(),
                                                    rel=1e-6)
    assert all(out[f'active_mentor{k}'].item() == 1 for k in (1, 2, 3))
    assert all(out[f't_mentor{k}'].item() == T0 for k in (1, 2, 3))


def test_dgkd_averages_the_mentors_it_keeps_in_each_iteration():
    student, mentors, labels = classroom()
    terms = [hinton(student, m, T0).mean().item() for m in mentors]
    kept_sets = set()
    torch.manual_seed(0)
    for _ in range(30):
        out = loss_of(student, mentors, labels, strategy='dgkd', drop_rate=0.5)
        kept = [k for k in range(3) if out[f'active_mentor{k + 1}'].item() == 1]
        assert kept, 'DGKD must keep at least one mentor'
        kept_sets.add(tuple(kept))
        assert out['loss_kd'].item() == pytest.approx(sum(terms[k] for k in kept) / len(kept),
                                                      rel=1e-5)
        assert out['loss_task'].item() == pytest.approx(
            cross_entropy(student, labels).mean().item(), rel=1e-6)
    assert len(kept_sets) > 3  # the kept mentors change from one iteration to the next


@pytest.mark.parametrize('num_mentors,drop_rate', [(3, 0.5), (4, 0.25)])
def test_dgkd_keeps_every_mentor_with_probability_one_minus_drop_rate(num_mentors, drop_rate):
    w = torch.tensor([[0.5]] + [[0.9 - 0.1 * k] for k in range(num_mentors)])
    usable = torch.ones_like(w, dtype=torch.bool)
    torch.manual_seed(0)
    draws = 3000
    kept = torch.stack([
        make_plan(w, usable, strategy='dgkd', drop_rate=drop_rate).active[:, 0]
        for _ in range(draws)
    ]).double()
    assert kept.sum(1).min() >= 1
    # an empty draw keeps one mentor chosen uniformly: P(kept) = (1 - p) + p^K / K
    expected = (1 - drop_rate) + drop_rate**num_mentors / num_mentors
    assert kept.mean(0).tolist() == pytest.approx([expected] * num_mentors, abs=0.03)
    patterns = {tuple(row.tolist()) for row in kept}
    assert len(patterns) == 2**num_mentors - 1  # every non-empty subset occurs


def with_a_mentor_out(seed: int = 0):
    """The classroom above, with mentor 2's outputs holding a NaN on sample 3: it sits the
    batch out, and mentors 1 and 3 are the ones that can teach."""
    student, mentors, labels = classroom(seed=seed)
    mentors[1] = mentors[1].clone()
    mentors[1][3, 0] = float('nan')
    return student, mentors, labels


def test_aver_averages_the_mentors_that_did_not_sit_out():
    student, mentors, labels = with_a_mentor_out()
    out = loss_of(student, mentors, labels, strategy='aver')
    expected = (hinton(student, mentors[0], T0).mean() + hinton(student, mentors[2], T0).mean())
    assert out['loss_kd'].item() == pytest.approx(expected.item() / 2, rel=1e-5)
    assert [out[f'active_mentor{k}'].item() for k in (1, 2, 3)] == [1, 0, 1]


def test_dgkd_keeps_a_mentor_that_did_not_sit_out():
    student, mentors, labels = with_a_mentor_out()
    terms = [hinton(student, m, T0).mean().item() for m in mentors]
    torch.manual_seed(0)
    kept_sets = set()
    for _ in range(30):
        out = loss_of(student, mentors, labels, strategy='dgkd', drop_rate=0.5)
        kept = [k for k in range(3) if out[f'active_mentor{k + 1}'].item() == 1]
        assert kept and 1 not in kept
        kept_sets.add(tuple(kept))
        assert out['loss_kd'].item() == pytest.approx(sum(terms[k] for k in kept) / len(kept),
                                                      rel=1e-5)
    assert kept_sets == {(0, ), (2, ), (0, 2)}
    # in sample granularity (a group per sample) a mentor sits out only the samples where it
    # is not finite: here each sample has one mentor that can teach, and it always does
    w = torch.tensor([[0.5, 0.5], [0.9, 0.9], [0.8, 0.8]])
    usable = torch.tensor([[True, True], [True, False], [False, True]])
    for _ in range(30):
        plan = make_plan(w, usable, strategy='dgkd')
        assert plan.active.sum(0).tolist() == [1, 1]
        assert plan.kd_weight.sum(0).tolist() == [1.0, 1.0]


def camkd_weights(mentor_ce: torch.Tensor) -> torch.Tensor:
    """CA-MKD: (1 - softmax over the mentors of their cross-entropy) / (K - 1)."""
    num_mentors = mentor_ce.shape[0]
    e = mentor_ce.exp()
    return (1 - e / e.sum(0, keepdim=True)) / (num_mentors - 1)


@pytest.mark.parametrize('granularity', ['batch', 'sample'])
def test_camkd_weights_every_sample_by_the_mentors_cross_entropy(granularity):
    # per sample as in CA-MKD, whatever the granularity of the ranking
    student, mentors, labels = classroom()
    out = loss_of(student, mentors, labels, strategy='camkd', granularity=granularity)
    mentor_ce = torch.stack([cross_entropy(m, labels) for m in mentors])  # [K, N]
    weights = camkd_weights(mentor_ce)
    assert weights.sum(0).tolist() == pytest.approx([1.0] * len(labels))
    # on every sample the most accurate mentor weighs most
    assert torch.equal(weights.argmax(0), mentor_ce.argmin(0))
    terms = torch.stack([hinton(student, m, T0) for m in mentors])
    assert out['loss_kd'].item() == pytest.approx((weights * terms).sum(0).mean().item(),
                                                  rel=1e-5)
    assert out['loss_task'].item() == pytest.approx(cross_entropy(student, labels).mean().item(),
                                                    rel=1e-6)


def test_camkd_weights_the_mentors_that_did_not_sit_out():
    student, mentors, labels = with_a_mentor_out()
    out = loss_of(student, mentors, labels, strategy='camkd')
    good = [mentors[0], mentors[2]]
    weights = camkd_weights(torch.stack([cross_entropy(m, labels) for m in good]))  # K' = 2
    terms = torch.stack([hinton(student, m, T0) for m in good])
    assert out['loss_kd'].item() == pytest.approx((weights * terms).sum(0).mean().item(),
                                                  rel=1e-5)
    assert out['active_mentor2'].item() == 0


def test_camkd_with_one_mentor_is_plain_kd():
    student, mentors, labels = classroom(num_mentors=1)
    out = loss_of(student, mentors, labels, strategy='camkd')
    assert out['loss_kd'].item() == pytest.approx(
        hinton(student, mentors[0], T0).mean().item(), rel=1e-5)


def test_dtkd_temperatures_with_knowledge_filtering():
    student, mentors, labels = classroom()
    # a mentor worse than the student: Knowledge Filtering keeps it out
    mentors.append(-3.0 * torch.nn.functional.one_hot(labels, 5).float() + student)
    out = loss_of(student, mentors, labels, temperature='dtkd')

    models = [student] + mentors
    num_mentors = len(mentors)
    w = torch.stack([(-cross_entropy(z, labels)).mean().exp() for z in models])
    r = num_mentors * w / w.sum()
    x = torch.stack([z.double().max(-1).values for z in models])  # [1 + K, N]
    expected_kd = 0.0
    for k, mentor in enumerate(mentors):
        t_m = 2 * x[k + 1] / (x[k + 1] + x[0]) * T0
        t_s = 2 * x[0] / (x[k + 1] + x[0]) * T0
        assert out[f't_mentor{k + 1}'].item() == pytest.approx(t_m.mean().item(), rel=1e-5)
        term = t_s * t_m * kl(softmax_t(mentor, t_m), softmax_t(student, t_s))
        active = bool(r[k + 1] >= r[0])
        assert out[f'active_mentor{k + 1}'].item() == active
        expected_kd = expected_kd + active * r[k + 1] * term.mean()
    assert out['active_mentor4'].item() == 0
    assert out['loss_kd'].item() == pytest.approx(float(expected_kd), rel=1e-5)
    assert out['loss_task'].item() == pytest.approx(
        (w[0] * cross_entropy(student, labels).mean()).item(), rel=1e-5)


def test_dtkd_keeps_t0_where_a_max_logit_is_not_positive():
    w = torch.tensor([[0.5], [0.8]])
    usable = torch.ones_like(w, dtype=torch.bool)
    sharpness = torch.tensor([[2.0, -1.0, 3.0], [6.0, 3.0, 0.0]])  # student, mentor; 3 samples
    plan = make_plan(w, usable, temperature='dtkd', sharpness=sharpness, base_temperature=T0)
    assert plan.temperature[0].tolist() == pytest.approx([2 * 6 / 8 * T0, T0, T0])
    assert plan.student_temperature[0].tolist() == pytest.approx([2 * 2 / 8 * T0, T0, T0])


@pytest.mark.parametrize('strategy', ['kd', 'aver', 'dgkd', 'camkd'])
def test_fixed_temperature_baselines_ignore_the_classroom_switches(strategy):
    student, mentors, labels = classroom()
    losses = []
    for switches in itertools.product((True, False), repeat=2):
        torch.manual_seed(0)  # the same DGKD draw
        out = loss_of(student, mentors, labels, strategy=strategy,
                      knowledge_filtering=switches[0], mentoring=switches[1])
        losses.append((out['loss_task'].item(), out['loss_kd'].item()))
    assert all(loss == pytest.approx(losses[0], rel=1e-6) for loss in losses)


def test_share_decimals_reproduces_the_authors_rank_rounding():
    # one sample of two classes whose true-class probabilities are w = 0.334 (student), 0.326,
    # 0.340: the authors' rounded shares 0.33, 0.33, 0.34 make mentor 1 tie with the student
    def logits(p):
        return torch.tensor([[torch.logit(torch.tensor(p, dtype=torch.float64)).item(), 0.0]])

    student, mentors = logits(0.334), [logits(0.326), logits(0.340)]
    labels = torch.tensor([0])
    exact = loss_of(student, mentors, labels, base_temperature=12.0)
    assert exact['active_mentor1'].item() == 0 and exact['active_mentor2'].item() == 1
    out = loss_of(student, mentors, labels, base_temperature=12.0, share_decimals=2)
    assert [out[k].item() for k in ('r_s', 'r_mentor1', 'r_mentor2')] == pytest.approx(
        [0.66, 0.66, 0.68], abs=1e-6)
    assert out['active_mentor1'].item() == 1 and out['t_mentor1'].item() == pytest.approx(1.0)
    t2 = 1 + 12 * 0.02 / 0.68
    expected = 0.66 * hinton(student, mentors[0], 1.0) + 0.68 * hinton(student, mentors[1], t2)
    # float32 KL of such close distributions is good to about 1e-7; the terms are ~1e-4
    assert out['loss_kd'].item() == pytest.approx(expected.item(), abs=1e-6)
    assert out['loss_task'].item() == pytest.approx(
        0.334 * cross_entropy(student, labels).item(), rel=1e-5)


@pytest.mark.parametrize('decimals', [-1, 2.5, '2'])
def test_invalid_share_decimals(decimals):
    with pytest.raises(ValueError, match=f'share_decimals must be None or an int >= 0, got '
                                         f'{decimals!r}'):
        ClassroomKDLoss(share_decimals=decimals)
