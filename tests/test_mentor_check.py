"""MentorCheckHook: the table it logs before training, and its chance-level warning."""
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.hooks import MentorCheckHook
from classroomkd_plugin.hooks.mentor_check_hook import Score, _chance_level

CLASSROOM = 'configs/cls/digits/classroom_resnet8_digits.py'


def digits_runner(tmp_path, mentors) -> Runner:
    cfg = Config.fromfile(CLASSROOM)
    cfg.model.mentors = mentors
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_begin = 2  # no validation after the epoch: only the check evaluates
    cfg.train_dataloader.dataset.dataset.indices = 64  # one iteration
    cfg.val_dataloader.batch_size = 32  # 6 batches of the 180 val images
    return Runner.from_cfg(cfg)


def logged(runner: Runner) -> str:
    """The text log of the run."""
    return (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()


def table_rows(log: str) -> dict:
    """{model: (role, params, value)} of the logged table."""
    rows = {}
    for match in re.finditer(r'^(\S+)\s+(teacher|peer|student)\s+([\d.]+)\s+([\d.]+)\s*$', log,
                             re.MULTILINE):
        rows[match[1]] = (match[2], float(match[3]), float(match[4]))
    return rows


@torch.no_grad()
def accuracy_by_hand(runner: Runner, network, max_batches=None) -> float:
    """Top-1 accuracy in % of ``network``'s logits over the val batches."""
    model = runner.model
    correct = total = 0
    for i, batch in enumerate(runner.val_loop.dataloader):
        if max_batches is not None and i >= max_batches:
            break
        data = model.data_preprocessor(batch, False)
        logits = network(data['inputs'], mode='tensor')
        labels = torch.cat([s.gt_label for s in data['data_samples']])
        correct += (logits.argmax(-1) == labels).sum().item()
        total += len(labels)
    return 100.0 * correct / total


def test_random_mentors_are_flagged_before_training(tmp_path, digits_mentors):
    runner = digits_runner(tmp_path, digits_mentors)
    assert any(isinstance(h, MentorCheckHook) for h in runner.hooks)  # from the config
    runner.train()
    log = logged(runner)
    assert 'Mentor check on 6/6 val batches' in log
    assert re.search(r'model\s+role\s+params \(M\)\s+accuracy/top1', log)
    rows = table_rows(log)
    assert list(rows) == ['resnet20', 'resnet14', 'student']
    model = runner.model
    networks = {'resnet20': model.mentors[0].model, 'resnet14': model.mentors[1].model,
                'student': model.student}
    for name, network in networks.items():
        role, params, _ = rows[name]
        assert role == {'resnet20': 'teacher', 'resnet14': 'peer'}.get(name, 'student')
        assert params == pytest.approx(sum(p.numel() for p in network.parameters()) / 1e6,
                                       abs=0.005)
    assert rows['resnet14'][2] == pytest.approx(accuracy_by_hand(runner, networks['resnet14']),
                                                abs=1e-2)
    for name in ('resnet20', 'resnet14'):
        assert rows[name][2] <= 15  # random weights on 10 classes
        assert re.search(rf"WARNING - mentor '{name}' scores accuracy/top1 = [\d.]+ on the "
                         r'val set, at chance level \(<= 15 = 1.5 x 100 / 10 classes\)', log)
    # the check comes before the first training iteration
    assert log.index('Mentor check') < log.index('Epoch(train)')


def test_max_batches_limits_the_evaluation(tmp_path, digits_mentors):
    runner = digits_runner(tmp_path, digits_mentors)
    MentorCheckHook(max_batches=2).before_train(runner)
    log = logged(runner)
    assert 'Mentor check on 2/6 val batches' in log
    value = table_rows(log)['resnet14'][2]
    assert value == pytest.approx(
        accuracy_by_hand(runner, runner.model.mentors[1].model, max_batches=2), abs=1e-2)
    assert runner.model.training  # left as it found it


def score(metric: str, value: float, metric_type: str) -> Score:
    return Score('m', 'peer', 1.0, metric, value, metric_type)


@pytest.mark.parametrize('task,metric,metric_type,value,flagged', [
    ('cls', 'accuracy/top1', 'Accuracy', 1.5, True),  # 100 classes: chance 1%, flagged <= 1.5
    ('cls', 'accuracy/top1', 'Accuracy', 1.6, False),
    ('pose', 'coco/AP', 'CocoMetric', 0.05, True),
    ('pose', 'coco/AP', 'CocoMetric', 0.3, False),
    ('pose', 'PCK', 'PCKAccuracy', 0.04, True),
    ('pose', 'PCK', 'MpiiPCKAccuracy', 4.0, True),  # MPII's PCKh is in %
    ('pose', 'PCK', 'MpiiPCKAccuracy', 0.9, True),
    ('pose', 'PCK', 'MpiiPCKAccuracy', 60.0, False),
])
def test_chance_level_rule(task, metric, metric_type, value, flagged):
    threshold, rule = _chance_level(score(metric, value, metric_type), task, num_classes=100)
    assert (value <= threshold) == flagged
    assert rule


def test_the_shipped_classification_configs_check_their_mentors():
    for path in (CLASSROOM, 'configs/cls/classroom_resnet20_resnet110_cifar100.py',
                 'configs/cls/classroom_resnet34_regnety320_in1k.py'):
        hooks = [h['type'] for h in Config.fromfile(path).custom_hooks]
        # the cache opens first: a replaying run reports the check recorded when it filled
        assert hooks == ['MentorCacheHook', 'ClassroomHook', 'MentorCheckHook'], path


def test_invalid_max_batches():
    with pytest.raises(ValueError, match='max_batches'):
        MentorCheckHook(max_batches=0)


def pose_runner(tmp_path) -> Runner:
    """The RTMPose-t COCO classroom on a small COCO set (4 people in 2 batches), taught by
    a random-init RTMPose-t."""
    from pose_data import (POSE_CONFIGS, RTMPOSE_T, data_options, local_mentors, scoped,
                           write_coco)
    data = write_coco(tmp_path / 'data')
    cfg = Config.fromfile(POSE_CONFIGS / 'classroom_rtmpose-t_coco-256x192.py')
    cfg.merge_from_dict(data_options(data, splits=('train', 'val')))
    cfg.model.student.backbone.init_cfg = None
    cfg.model.mentors = local_mentors([dict(name='rtmpose-t', config=scoped(RTMPOSE_T))],
                                      tmp_path)
    cfg.val_dataloader.batch_size = 2
    cfg.work_dir = str(tmp_path / 'work')
    return Runner.from_cfg(cfg)


def test_pose_classroom_reports_coco_ap(tmp_path):
    runner = pose_runner(tmp_path)
    MentorCheckHook().before_train(runner)
    log = logged(runner)
    assert 'Mentor check on 2/2 val batches' in log
    assert re.search(r'model\s+role\s+params \(M\)\s+coco/AP', log)
    rows = table_rows(log)
    assert list(rows) == ['rtmpose-t', 'student']
    assert rows['rtmpose-t'][1] == rows['student'][1]  # the same architecture
    assert rows['rtmpose-t'][2] <= 0.05
    assert re.search(r"WARNING - mentor 'rtmpose-t' scores coco/AP = [\d.]+ on the val set, "
                     r'at chance level \(<= 0.05, 5% of the full scale\)', log)

    # on part of the set CocoMetric counts the images left out as misses: no verdict
    MentorCheckHook(max_batches=1).before_train(runner)
    log = logged(runner)[len(log):]
    assert 'Mentor check on 1/2 val batches' in log and 'lower bounds' in log
    assert 'chance level' not in log
