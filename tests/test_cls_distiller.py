"""ClassroomDistiller on real MMPretrain models with the real MMEngine Runner."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import Runner

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.models import ClassroomError
from conftest import save_random_checkpoint

CLASSROOM = 'configs/cls/digits/classroom_resnet8_digits.py'


def classroom_cfg(tmp_path, mentors, **loss):
    cfg = Config.fromfile(CLASSROOM)
    cfg.model.mentors = mentors
    cfg.model.distill_loss.update(loss)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger.interval = 5
    cfg.train_dataloader.batch_size = 32
    return cfg


STUDENT = 'configs/cls/digits/resnet8_digits.py'


def build(mentors, **loss):
    return MODELS.build(dict(type='ClassroomDistiller', student=STUDENT, mentors=mentors,
                             distill_loss=dict(loss)))


def test_runner_trains_and_evaluates_the_student_alone(tmp_path, digits_mentors):
    runner = Runner.from_cfg(classroom_cfg(tmp_path, digits_mentors))
    model = runner.model
    model.build_mentors()  # as training starts
    mentors = [m.model for m in model.mentors]
    assert len(mentors) == 2
    before = [copy.deepcopy(m.state_dict()) for m in mentors]
    runner.train()

    model.train()
    assert model.student.training and not any(m.training for m in mentors)
    assert all(not p.requires_grad for m in mentors for p in m.parameters())
    for mentor, state in zip(mentors, before):
        for key, value in mentor.state_dict().items():
            assert torch.equal(value, state[key]), key  # BN statistics too
    optimized = {id(p) for group in runner.optim_wrapper.param_groups for p in group['params']}
    assert optimized == {id(p) for p in model.student.parameters()}

    checkpoint = torch.load(tmp_path / 'epoch_1.pth', map_location='cpu')
    keys = checkpoint['state_dict'].keys()
    assert keys and all(k.startswith('student.') for k in keys)

    metrics = runner.test()
    assert 'accuracy/top1' in metrics
    scalars = (tmp_path / runner.timestamp / 'vis_data' / 'scalars.json').read_text()
    assert 'classroom/r_resnet20' in scalars and 'classroom/t_resnet14' in scalars


def test_loss_entries_and_logged_statistics(digits_mentors):
    model = build(digits_mentors)
    inputs = torch.randn(4, 3, 16, 16)
    from mmpretrain.structures import DataSample
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_task', 'loss_kd'}
    stats = model.pop_stats()
    assert {'r_s', 'r_resnet20', 't_resnet20', 'active_resnet14'} <= set(stats)
    assert model.pop_stats() == {}


def test_mentors_follow_the_distiller_but_are_not_its_submodules(digits_mentors):
    model = build(digits_mentors)
    model.train()  # training starts: the mentors are built
    assert not any(m.model.training for m in model.mentors)
    mentor_modules = {id(module) for m in model.mentors for module in m.model.modules()}
    assert not any(id(module) in mentor_modules for module in model.modules())
    mentor_params = {id(p) for m in model.mentors for p in m.model.parameters()}
    assert not any(id(p) in mentor_params for p in model.parameters())
    model.half()  # converts the mentors too
    assert next(model.mentors[0].model.parameters()).dtype == torch.float16
    model.to(torch.float64)
    assert next(model.mentors[0].model.parameters()).dtype == torch.float64


def test_ema_copy_on_another_device_leaves_the_mentors(digits_mentors):
    """MMEngine's EMAHook deep-copies the model and moves the copy to its ``device``: the
    copy holds no mentors (it only predicts), so the training model keeps its own."""
    from mmengine.model import ExponentialMovingAverage
    from mmpretrain.structures import DataSample
    model = build(digits_mentors)
    model.build_mentors()  # a copy made after the mentors exist, the case that moved them
    ema = ExponentialMovingAverage(model, device=torch.device('meta'))
    assert len(model.mentors) == 2
    assert all(p.device.type == 'cpu' for m in model.mentors for p in m.model.parameters())
    samples = [DataSample().set_gt_label(i) for i in range(4)]
    losses = model(torch.randn(4, 3, 16, 16), samples, mode='loss')
    assert torch.isfinite(losses['loss_kd'])
    assert len(ema.module.mentors) == 0 and len(model.mentors) == 2
    assert ema.module(torch.randn(2, 3, 16, 16, device='meta')).shape == (2, 10)  # it predicts


def test_mentors_keep_the_surrounding_autocast(digits_mentors):
    """Under an outer autocast (--amp) mentor_autocast=None runs the mentors in it, as the
    student runs; a mentor_autocast of its own applies with or without one."""
    inputs = torch.randn(2, 3, 16, 16)
    model = build(digits_mentors).train()  # training starts: the mentors are built
    with torch.autocast('cpu', torch.bfloat16):
        assert model.student_task.outputs(inputs).dtype == torch.bfloat16
        assert [out.dtype for out in model.teach(inputs)] == [torch.bfloat16] * 2
    assert [out.dtype for out in model.teach(inputs)] == [torch.float32] * 2
    model = MODELS.build(dict(type='ClassroomDistiller', student=STUDENT,
                              mentors=digits_mentors, mentor_autocast='bfloat16')).train()
    assert [out.dtype for out in model.teach(inputs)] == [torch.bfloat16] * 2


def test_sample_granularity_weighs_each_sample_of_the_head_loss(digits_mentors):
    """The head's own cross-entropy, each sample's term scaled by the student's probability
    of its true class (computed here in float64)."""
    from mmpretrain.structures import DataSample
    model = build(digits_mentors, granularity='sample')
    torch.manual_seed(0)
    inputs = torch.randn(6, 3, 16, 16)
    labels = torch.tensor([0, 3, 5, 7, 9, 2])
    samples = [DataSample().set_gt_label(int(i)) for i in labels]
    losses = model(inputs, samples, mode='loss')
    logits = model.student(inputs, mode='tensor').double()  # train mode, as in the loss
    log_p = logits.log_softmax(-1)[torch.arange(6), labels]
    expected = (log_p.exp() * -log_p).mean()
    assert losses['loss_task'].item() == pytest.approx(expected.item(), rel=1e-5)


def test_missing_checkpoint_names_the_mentor(digits_mentors, tmp_path):
    mentors = copy.deepcopy(digits_mentors)
    mentors[1]['checkpoint'] = str(tmp_path / 'nowhere.pth')
    model = build(mentors)  # evaluation needs no mentor
    with pytest.raises(FileNotFoundError, match="mentor 'resnet14'.*does not exist"):
        model.train()


def test_a_mentor_that_does_not_fit_is_refused_before_any_checkpoint_is_fetched(
        digits_mentors):
    """The second mentor has 100 classes, the student 10; nothing listens at either
    checkpoint URL, so fetching one first would fail with another error."""
    config = 'configs/cls/_base_/models/resnet8.py'
    mentors = [dict(digits_mentors[0], checkpoint='http://127.0.0.1:9/teacher.pth'),
               dict(name='wrong', config=config, checkpoint='http://127.0.0.1:9/wrong.pth')]
    model = build(mentors)
    with pytest.raises(ClassroomError, match="mentor 'wrong'.*number of classes is 100.*10"):
        model.train()
    assert len(model.mentors) == 0


def test_evaluation_builds_and_fetches_nothing_of_the_mentors(tmp_path, digits_mentors):
    """With every mentor's checkpoint missing or unreachable, the Runner tests and validates
    the student; training refuses the classroom before its first iteration."""
    mentors = [dict(digits_mentors[0], checkpoint=str(tmp_path / 'absent.pth')),
               dict(digits_mentors[1], checkpoint='http://127.0.0.1:9/resnet14.pth')]
    cfg = classroom_cfg(tmp_path, mentors)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h.type != 'MentorCheckHook']
    runner = Runner.from_cfg(cfg)
    assert 'accuracy/top1' in runner.test() and 'accuracy/top1' in runner.val()
    assert len(runner.model.mentors) == 0
    with pytest.raises(FileNotFoundError, match="mentor 'resnet20'.*does not exist"):
        runner.train()
    assert runner.iter == 0


def test_empty_mentor_list_is_refused_unless_no_kd():
    with pytest.raises(ClassroomError, match='mentor list is empty'):
        build([])
    assert len(build([], strategy='nokd').mentors) == 0


def test_duplicate_mentor_names(digits_mentors):
    twins = [digits_mentors[0], dict(digits_mentors[1], name='resnet20')]
    with pytest.raises(ClassroomError, match="two mentors are named 'resnet20'"):
        build(twins)


def test_a_mentor_name_that_would_overwrite_the_student_statistics(digits_mentors):
    with pytest.raises(ClassroomError, match="mentor 's': the name is reserved.*r_s"):
        build([digits_mentors[0], dict(digits_mentors[1], name='s')])


def test_unknown_and_invalid_loss_arguments(digits_mentors):
    with pytest.raises(TypeError, match='temprature'):
        build(digits_mentors, temprature=4)
    with pytest.raises(ValueError, match="ranking='sorted'"):
        build(digits_mentors, ranking='sorted')
    # with one ranking per sample there is no batch mean to take
    with pytest.raises(ValueError, match="performance='arithmetic'.*granularity='sample'"):
        build(digits_mentors, performance='arithmetic', granularity='sample')


def test_timm_mentor_with_an_mmpretrain_student(tmp_path):
    timm = dict(type='TimmClassifier', model_name='resnet10t', pretrained=False, num_classes=10)
    mentor = dict(name='timm_r10', config=timm,
                  checkpoint=save_random_checkpoint(timm, tmp_path / 'timm.pth'))
    model = build([mentor])
    from mmpretrain.structures import DataSample
    losses = model(torch.randn(2, 3, 16, 16), [DataSample().set_gt_label(1)] * 2, mode='loss')
    assert torch.isfinite(losses['loss_kd'])


def test_scoped_student_config():
    model = MODELS.build(
        dict(type='ClassroomDistiller', student='mmpretrain::resnet/resnet18_8xb16_cifar10.py',
             mentors=[], distill_loss=dict(strategy='nokd')))
    assert type(model.student).__name__ == 'ImageClassifier'
    assert model.student.head.num_classes == 10


def test_callable_loss_for_classification():
    loss = MODELS.build(dict(type='ClassroomKDLoss', task='cls'))
    student = torch.randn(8, 10, requires_grad=True)
    out = loss(student, [torch.randn(8, 10), torch.randn(8, 10)], torch.randint(0, 10, (8, )))
    assert {'loss_task', 'loss_kd', 'r_s', 'r_mentor1', 't_mentor2', 'active_mentor1'} <= set(out)
    sum(v for k, v in out.items() if 'loss' in k).backward()
    assert student.grad is not None
