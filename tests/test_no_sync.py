"""No host-device synchronisation in the training step: no `.item()`, no Python branch on a
tensor value, no copy to the host. On CPU this is checked three ways: the core objective
traces into one graph with `torch.compile(fullgraph=True)`, the distiller's loss runs with
every tensor-to-host conversion disabled, and it runs on the meta device, where tensors hold
no values, so that reading one (`.cpu()`, `.to('cpu')`, boolean-mask indexing, ...) raises."""
import contextlib

import pytest
import torch
import torch.nn.functional as F

from classroomkd_plugin.core import ClassroomSettings, ClsLogits, classroom_objective
from classroomkd_plugin.core.pose import HeatmapRep, PoseTargets, SimCCRep

CLS = ClsLogits()
SETTINGS = [
    dict(strategy='classroom'),
    dict(strategy='classroom', granularity='sample'),
    dict(strategy='classroom', temperature='dtkd'),
    dict(strategy='classroom', ranking='uniform', knowledge_filtering=False, mentoring=False),
    dict(strategy='classroom', performance='arithmetic'),
    dict(strategy='kd'),
    dict(strategy='aver'),
    dict(strategy='dgkd'),
    dict(strategy='camkd', granularity='sample'),
]


def weighted_ce(logits, labels):
    def task_loss(weight):
        per_sample = F.cross_entropy(logits, labels, reduction='none')
        return per_sample.mean() if weight is None else (per_sample * weight).mean()

    return task_loss


@pytest.mark.parametrize('settings', SETTINGS, ids=lambda s: '-'.join(map(str, s.values())))
def test_classification_objective_is_one_graph(settings):
    torch._dynamo.reset()

    def step(student, mentors, labels):
        result = classroom_objective(CLS, student, mentors, [CLS] * len(mentors), labels,
                                     weighted_ce(student, labels), ClassroomSettings(**settings))
        return result.loss_task + result.loss_kd

    compiled = torch.compile(step, fullgraph=True, backend='eager')
    student = torch.randn(8, 10, requires_grad=True)
    loss = compiled(student, [torch.randn(8, 10) for _ in range(3)], torch.randint(0, 10, (8, )))
    loss.backward()
    assert torch.isfinite(student.grad).all()


@pytest.mark.parametrize('temperature', ['mentoring', 'dtkd'])
def test_objective_with_a_skipped_lazy_mentor_is_one_graph(temperature):
    torch._dynamo.reset()
    settings = ClassroomSettings(temperature=temperature)

    def step(student, mentor, labels, previous):
        result = classroom_objective(CLS, student, [mentor, None, mentor], [CLS] * 3, labels,
                                     weighted_ce(student, labels), settings, previous=previous)
        return result.loss_task + result.loss_kd, result.plan

    compiled = torch.compile(step, fullgraph=True, backend='eager')
    student = torch.randn(8, 10, requires_grad=True)
    loss, plan = compiled(student, torch.randn(8, 10), torch.randint(0, 10, (8, )),
                          torch.tensor([[0.1], [0.2], [0.9], [0.3]]))
    loss.backward()
    assert torch.isfinite(student.grad).all()
    assert not plan.active[1].any() and plan.performance[2, 0] == 0.9


def test_pose_objective_with_conversions_is_one_graph():
    torch._dynamo.reset()
    heatmap, simcc = HeatmapRep('kl'), SimCCRep(beta=10.0)
    targets = PoseTargets(torch.rand(2, 17, 2) * 40, torch.ones(2, 17), torch.full((17, ), 0.07),
                          (48, 64))

    def step(student, mentor_heatmap, mentor_simcc):
        result = classroom_objective(simcc, student, [mentor_heatmap, mentor_simcc],
                                     [heatmap, simcc], targets, lambda weight: student[0].sum(),
                                     ClassroomSettings(granularity='sample'))
        return result.loss_task + result.loss_kd

    compiled = torch.compile(step, fullgraph=True, backend='eager')
    student = (torch.randn(2, 17, 96, requires_grad=True), torch.randn(2, 17, 128))
    loss = compiled(student, torch.rand(2, 17, 16, 12), (torch.randn(2, 17, 96),
                                                         torch.randn(2, 17, 128)))
    loss.backward()
    assert torch.isfinite(student[0].grad).all()


def test_pose_objective_with_a_skipped_lazy_mentor_is_one_graph():
    torch._dynamo.reset()
    heatmap, simcc = HeatmapRep('kl'), SimCCRep(beta=10.0)
    targets = PoseTargets(torch.rand(2, 17, 2) * 40, torch.ones(2, 17), torch.full((17, ), 0.07),
                          (48, 64))

    def step(student, mentor_simcc, previous):
        result = classroom_objective(simcc, student, [None, mentor_simcc], [heatmap, simcc],
                                     targets, lambda weight: student[0].sum(),
                                     ClassroomSettings(), previous=previous)
        return result.loss_task + result.loss_kd, result.plan

    compiled = torch.compile(step, fullgraph=True, backend='eager')
    student = (torch.randn(2, 17, 96, requires_grad=True), torch.randn(2, 17, 128))
    loss, plan = compiled(student, (torch.randn(2, 17, 96), torch.randn(2, 17, 128)),
                          torch.tensor([[0.2], [0.9], [0.1]]))
    loss.backward()
    assert torch.isfinite(student[0].grad).all()
    assert not plan.active[0].any() and plan.performance[1, 0] == 0.9


@contextlib.contextmanager
def host_transfers_forbidden():
    """Make every tensor-to-host conversion raise."""

    def refuse(*args, **kwargs):
        raise AssertionError('host-device synchronisation in the training step')

    names = ['item', 'tolist', 'numpy', '__bool__', '__int__', '__float__', '__index__']
    saved = {name: getattr(torch.Tensor, name) for name in names}
    for name in names:
        setattr(torch.Tensor, name, refuse)
    try:
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def distiller(mentors, granularity: str):
    from mmengine.registry import MODELS
    return MODELS.build(
        dict(type='ClassroomDistiller', student='configs/cls/digits/resnet8_digits.py',
             mentors=mentors, distill_loss=dict(granularity=granularity)))


@pytest.mark.parametrize('granularity', ['batch', 'sample'])
def test_the_distiller_loss_never_reads_a_tensor_on_the_host(digits_mentors, granularity):
    from mmpretrain.structures import DataSample
    model = distiller(digits_mentors, granularity)
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    inputs = torch.randn(4, 3, 16, 16)
    with host_transfers_forbidden():
        losses = model(inputs, samples, mode='loss')
        sum(losses.values()).backward()
    with pytest.raises(AssertionError, match='synchronisation'), host_transfers_forbidden():
        losses['loss_kd'].item()  # the check itself works
    assert model.pop_stats()  # statistics are read at the logging interval instead


def test_lazy_mentors_decide_without_reading_a_tensor_on_the_host(digits_mentors):
    from mmengine.registry import MODELS
    from mmpretrain.structures import DataSample
    model = MODELS.build(
        dict(type='ClassroomDistiller', student='configs/cls/digits/resnet8_digits.py',
             mentors=digits_mentors, lazy_mentors=2))
    model.build_mentors()
    model.mentors[1].model.head.fc.bias.data[1] += 30.0  # below the student: skipped
    samples = [DataSample().set_gt_label(0) for _ in range(4)]
    inputs = torch.randn(4, 3, 16, 16)
    with host_transfers_forbidden():
        for _ in range(2):  # it runs on step 0 and is skipped on step 1
            losses = model(inputs, samples, mode='loss')
            sum(losses.values()).backward()
    assert model.pop_stats()['ran_resnet14'] == 0.5


@pytest.mark.parametrize('granularity', ['batch', 'sample'])
def test_the_distiller_loss_runs_on_a_device_whose_values_the_host_cannot_read(
        digits_mentors, granularity):
    from mmpretrain.structures import DataSample
    model = distiller(digits_mentors, granularity).to('meta')
    samples = [DataSample().set_gt_label(torch.tensor([i], device='meta')) for i in range(4)]
    losses = model(torch.randn(4, 3, 16, 16, device='meta'), samples, mode='loss')
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.student.parameters())
    # the check itself works: each of these would stop a step to wait for the device
    value = losses['loss_kd']
    for read in (value.cpu, lambda: value.to('cpu'), lambda: value[None][value[None] > 0],
                 lambda: bool(value)):
        with pytest.raises((RuntimeError, NotImplementedError)):
            read()
