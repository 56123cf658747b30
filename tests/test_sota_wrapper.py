"""ClassroomKDWrapper: image_classification_sota's ``loss_fn(inputs, targets)`` with timm and
torchvision models (random weights, offline)."""
import copy

import pytest
import timm
import torch
import torch.nn.functional as F
import torchvision

from classroomkd_plugin.models.losses import ClassroomKDLoss
from classroomkd_plugin.sota import ClassroomKDWrapper

NUM_CLASSES = 10


@pytest.fixture
def classroom():
    torch.manual_seed(0)
    student = timm.create_model('mobilenetv3_small_050', num_classes=NUM_CLASSES)
    mentors = {
        'resnet10t': timm.create_model('resnet10t', num_classes=NUM_CLASSES),
        'squeezenet': torchvision.models.squeezenet1_1(num_classes=NUM_CLASSES),
    }
    images = torch.randn(8, 3, 32, 32)
    labels = torch.randint(NUM_CLASSES, (8, ))
    return student, mentors, images, labels


def test_a_training_step_as_in_image_classification_sota(classroom):
    student, mentors, images, labels = classroom
    loss_fn = ClassroomKDWrapper(student, mentors, base_temperature=4.0)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    mentor_states = {name: copy.deepcopy(m.state_dict()) for name, m in mentors.items()}
    student_before = copy.deepcopy(student.state_dict())

    # its train_epoch: model.train(), grads to None, loss_fn(input, target), backward, step
    student.train()
    for p in student.parameters():
        p.grad = None
    loss = loss_fn(images, labels)
    loss.backward()
    optimizer.step()

    assert loss.dim() == 0 and torch.isfinite(loss)
    assert all(p.grad is not None for p in student.parameters())
    for name, mentor in mentors.items():
        assert not mentor.training
        assert all(p.grad is None and not p.requires_grad for p in mentor.parameters())
        for key, value in mentor.state_dict().items():
            assert torch.equal(value, mentor_states[name][key]), key  # BN statistics too
    changed = [k for k, v in student.state_dict().items() if not torch.equal(v, student_before[k])]
    assert changed
    assert {'loss_task', 'loss_kd', 'r_s', 'r_resnet10t', 't_squeezenet'} <= set(loss_fn.stats)


def test_loss_is_the_classroomkd_loss_of_the_logits(classroom):
    student, mentors, images, labels = classroom
    student.eval()  # a deterministic forward, to compute the same logits twice
    loss_fn = ClassroomKDWrapper(student, list(mentors.values()), base_temperature=4.0)
    with torch.no_grad():
        logits = student(images)
        mentor_logits = [m.eval()(images) for m in mentors.values()]
    expected = ClassroomKDLoss(base_temperature=4.0)(logits, mentor_logits, labels)
    assert loss_fn(images, labels).item() == pytest.approx(
        (expected['loss_task'] + expected['loss_kd']).item(), rel=1e-6)
    assert loss_fn.stats['loss_kd'] > 0
    assert 'r_mentor2' in loss_fn.stats


def test_ori_loss_is_the_task_loss_scaled_by_the_student_performance(classroom):
    student, mentors, images, labels = classroom
    student.eval()
    ori_loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    loss_fn = ClassroomKDWrapper(student, mentors, ori_loss=ori_loss)
    loss_fn(images, labels)
    with torch.no_grad():
        logits = student(images)
    w_s = torch.exp(-F.cross_entropy(logits, labels))  # geometric mean of p(true class)
    assert loss_fn.stats['loss_task'].item() == pytest.approx(
        (w_s * ori_loss(logits, labels)).item(), rel=1e-5)


def test_soft_targets_from_mixup(classroom):
    """With soft targets y (mixup, cutmix, label smoothing) a model's score on a sample is
    sum_c y_c p_c, its performance w = exp(mean log sum_c y_c p_c), and the task loss the soft
    cross-entropy; the loss against the README's formulas computed here in float64."""
    student, mentors, images, labels = classroom
    student.eval()  # a deterministic forward, to compute the same logits twice
    # mixup with lambda 0.7: each image's label mixed with the next one's
    soft = (0.7 * F.one_hot(labels, NUM_CLASSES) +
            0.3 * F.one_hot(labels.roll(1, 0), NUM_CLASSES)).float()
    loss = ClassroomKDWrapper(student, mentors, base_temperature=4.0)(images, soft)
    loss.backward()

    with torch.no_grad():
        logits = [model(images).double() for model in (student, *mentors.values())]
    y = soft.double()
    w = torch.stack([(y * z.softmax(-1)).sum(-1).log().mean().exp() for z in logits])
    r = 2 * w / w.sum()
    expected = w[0] * -(y * logits[0].log_softmax(-1)).sum(-1).mean()
    teaching = [k for k in (1, 2) if r[k] >= r[0]]
    assert teaching, 'no mentor teaches: the KD part would go untested'
    for k in teaching:
        t = 1 + 4.0 * (r[k] - r[0]) / r[k]
        p_m, log_p_s = (logits[k] / t).softmax(-1), (logits[0] / t).log_softmax(-1)
        expected = expected + r[k] * t * t * (p_m * (p_m.log() - log_p_s)).sum(-1).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_bad_input_is_one_clear_error(classroom):
    student, mentors, images, labels = classroom
    with pytest.raises(ValueError, match='no mentors'):
        ClassroomKDWrapper(student, [])
    with pytest.raises(ValueError, match="granularity='sample'"):
        ClassroomKDWrapper(student, mentors, ori_loss=torch.nn.CrossEntropyLoss(),
                           granularity='sample')
    with pytest.raises(ValueError, match='strategy'):
        ClassroomKDWrapper(student, mentors, strategy='unknown')
    with pytest.raises(ValueError, match="mentor 's': the name is reserved"):
        ClassroomKDWrapper(student, {'s': mentors['resnet10t']})
    two_outputs = ClassroomKDWrapper(lambda x: (student(x), student(x)), mentors)
    with pytest.raises(TypeError, match='not a logits tensor'):
        two_outputs(images, labels)
