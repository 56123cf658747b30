"""The paper's pose classrooms in configs/pose at full size: each builds its student and every
mentor with their real architectures (mentors loading local random-init checkpoints instead of
the official URLs), trains one iteration at batch size 1 with the real Runner, and its
Mentoring changes what the student is taught."""
import ast
import dataclasses
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.runner import Runner

from classroomkd_plugin.core.pose import PoseTargets
from pose_data import (POSE_CONFIGS, RTMPOSE_T, data_options, local_mentors, scoped, write_coco,
                       write_mpii)

CONFIGS = sorted(path.name for path in POSE_CONFIGS.glob('classroom_*.py'))
OFFICIAL_URL = re.compile(r'^https://download\.openmmlab\.com/mmpose/.+\.pth$')
_checkpoints = {}  # mentor config -> random-init checkpoint, shared by the tests


SCHEDULE_210 = 'classroom_rtmpose-t_210e_coco-256x192.py'
SCHEDULE_KEYS = ('train_cfg', 'param_scheduler', 'custom_hooks')


def test_every_paper_classroom_has_a_config():
    assert CONFIGS == [
        'classroom_litehrnet-18_mixed_mpii-256x256.py', 'classroom_litehrnet-18_mpii-256x256.py',
        'classroom_rtmpose-t_210e_coco-256x192.py', 'classroom_rtmpose-t_coco-256x192.py',
        'classroom_rtmpose-t_hrnet_coco-256x192.py'
    ]


@pytest.mark.parametrize('name', CONFIGS)
def test_config_names_official_checkpoints_and_keeps_the_stock_training(name):
    cfg = Config.fromfile(POSE_CONFIGS / name)
    stock = get_config(_base_of(name))
    assert cfg.model.type == 'ClassroomDistiller'
    assert _unscoped(cfg.model.student) == _unscoped(stock.model)
    for key in ('train_dataloader', 'val_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'val_evaluator', 'custom_hooks'):
        if name == SCHEDULE_210 and key in SCHEDULE_KEYS:
            continue  # see test_the_210_epoch_classroom_takes_the_stock_schedule_at_210
        theirs = stock[key][:] if key == 'custom_hooks' else stock[key]
        ours = cfg[key][:-2] if key == 'custom_hooks' else cfg[key]
        assert _unscoped(ours) == _unscoped(theirs), key
    assert [h.type for h in cfg.custom_hooks[-2:]] == ['ClassroomHook', 'MentorCheckHook']
    for mentor in cfg.model.mentors:
        assert OFFICIAL_URL.match(mentor.checkpoint), mentor
        assert mentor.config.startswith('mmpose::body_2d_keypoint/')
    loss = cfg.model.distill_loss
    assert loss.type == 'ClassroomKDLoss' and loss.base_temperature > 1
    assert loss.distill_weight > 0


def test_the_210_epoch_classroom_takes_the_stock_schedule_at_210():
    """The stock RTMPose-t schedule (420 epochs: cosine over epochs 210-420, stage 2 from
    390, no EMA) at 210 epochs: cosine over 105-210, stage 2 from 180, as in MMPose's own
    210-epoch RTMPose config (MPII); everything else as in the 420-epoch classroom."""
    cfg = Config.fromfile(POSE_CONFIGS / SCHEDULE_210)
    stock_classroom = Config.fromfile(POSE_CONFIGS / 'classroom_rtmpose-t_coco-256x192.py')
    stock = get_config(scoped(RTMPOSE_T))
    mmpose_210 = get_config('mmpose::body_2d_keypoint/rtmpose/mpii/'
                            'rtmpose-m_8xb64-210e_mpii-256x256.py')

    def cosine(config):
        c = config.param_scheduler[1]
        return c.type, c.begin, c.end, c.T_max, c.eta_min, c.convert_to_iter_based

    def switch(config):
        hooks = [h for h in config.custom_hooks if h.type == 'mmdet.PipelineSwitchHook']
        assert len(hooks) == 1
        return hooks[0]

    assert cosine(stock) == ('CosineAnnealingLR', 210, 420, 210, 4e-3 * 0.05, True)
    assert switch(stock).switch_epoch == 390
    assert (cfg.train_cfg.max_epochs, cfg.train_cfg.val_interval) == (210, 10)
    assert cosine(cfg) == ('CosineAnnealingLR', 105, 210, 105, 4e-3 * 0.05, True)
    assert cosine(mmpose_210) == cosine(cfg)
    assert _unscoped(cfg.param_scheduler[0]) == _unscoped(stock.param_scheduler[0])  # warm-up
    assert switch(cfg).switch_epoch == 180 == switch(mmpose_210).switch_epoch
    assert _unscoped(switch(cfg).switch_pipeline) == _unscoped(switch(stock).switch_pipeline)
    assert not any('EMA' in h.type for h in cfg.custom_hooks + stock.custom_hooks)
    assert [h.type for h in cfg.custom_hooks[1:]] == ['ClassroomHook', 'MentorCheckHook']
    assert (cfg.max_epochs, stock_classroom.max_epochs) == (210, 420)
    for key in set(stock_classroom) - {*SCHEDULE_KEYS, 'max_epochs'}:
        assert _unscoped(cfg[key]) == _unscoped(stock_classroom[key]), key


def _unscoped(value):
    """A config value without the ``_scope_`` keys inheritance adds."""
    if isinstance(value, dict):
        return {k: _unscoped(v) for k, v in value.items() if k != '_scope_'}
    if isinstance(value, (list, tuple)):
        return [_unscoped(v) for v in value]
    return value


def _base_of(name: str) -> str:
    """The one stock config a classroom config inherits, directly or through another."""
    tree = ast.parse((POSE_CONFIGS / name).read_text())
    bases = next(ast.literal_eval(node.value) for node in tree.body
                 if isinstance(node, ast.Assign) and node.targets[0].id == '_base_')
    assert len(bases) == 1, bases
    return bases[0] if bases[0].startswith('mmpose::') else _base_of(bases[0][len('./'):])


def codec_outputs(adapter, keypoints: torch.Tensor):
    """What a model outputs when it predicts ``keypoints`` ([N, K, 2] input pixels) as it
    was trained to: its codec's targets (heatmaps, or SimCC labels as logits)."""
    codec = adapter.model.head.decoder
    encoded = [codec.encode(k[None].numpy(), np.ones((1, len(k)), np.float32))
               for k in keypoints]
    if 'heatmaps' in encoded[0]:
        return torch.stack([torch.as_tensor(e['heatmaps']) for e in encoded])
    return tuple(torch.cat([torch.as_tensor(e[key]) for e in encoded])
                 for key in ('keypoint_x_labels', 'keypoint_y_labels'))


def mentoring_changes_the_loss(model) -> None:
    """On a batch where the student is 20 px off and the mentors 0, 4, 8, ... px (their rank
    gaps differ), every t = T0 (mentoring=False) changes the distillation loss."""
    student = model.student_task
    width, height = student.input_size
    count = student.signature()['number of keypoints']
    rng = np.random.default_rng(0)
    keypoints = torch.as_tensor(
        rng.uniform([30, 30], [width - 60, height - 30], (2, count, 2)), dtype=torch.float32)
    shift = torch.tensor([1.0, 0.0])
    mentor_outs = [codec_outputs(mentor, keypoints + 4 * k * shift)
                   for k, mentor in enumerate(model.mentors)]
    targets = PoseTargets(keypoints, torch.ones(2, count), torch.full((count, ), 0.07),
                          student.input_size)
    loss = model.distill_loss
    results = {}
    for mentoring in (True, False):
        settings = loss.settings
        loss.settings = dataclasses.replace(settings, mentoring=mentoring)
        try:
            results[mentoring] = loss(codec_outputs(student, keypoints + 20 * shift),
                                      mentor_outs, targets, lambda weight: torch.zeros(()),
                                      student.rep, [m.rep for m in model.mentors],
                                      model.mentor_names)
        finally:
            loss.settings = settings
    temperatures = [results[True][f't_{name}'].item() for name in model.mentor_names]
    assert len(set(round(t, 4) for t in temperatures)) == len(temperatures), temperatures
    assert all(results[False][f't_{n}'] == loss.settings.base_temperature
               for n in model.mentor_names)
    on, off = results[True]['loss_kd'], results[False]['loss_kd']
    assert not torch.isclose(on, off, rtol=1e-3), (on, off)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_builds_every_model_and_trains_one_iteration(name, tmp_path,
                                                            tmp_path_factory):
    cfg = Config.fromfile(POSE_CONFIGS / name)
    mentor_root = tmp_path_factory.getbasetemp() / 'full_size_mentors'
    mentor_root.mkdir(exist_ok=True)
    cfg.model.mentors = local_mentors(cfg.model.mentors, mentor_root, _checkpoints)
    if cfg.model.student.backbone.get('init_cfg'):
        cfg.model.student.backbone.init_cfg = None  # the pretrained backbone is a download
    if 'coco' in name:
        data = write_coco(tmp_path / 'data', 1, persons_per_image=1, unlabelled_person=False)
    else:
        data = write_mpii(tmp_path / 'data', 1)
    cfg.merge_from_dict(data_options(data, splits=('train', )))
    cfg.train_dataloader.batch_size = 1
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    for key in ('val_cfg', 'val_dataloader', 'val_evaluator', 'test_cfg', 'test_dataloader',
                'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = None
    cfg.work_dir = str(tmp_path / 'work')
    cfg.visualizer.name = f'visualizer_{name}'

    runner = Runner.from_cfg(cfg)
    model = runner.model
    runner.train()

    assert runner.iter == 1
    assert len(model.mentors) == len(cfg.model.mentors)
    for mentor, built in zip(cfg.model.mentors, model.mentors):
        expected = get_config(mentor.config).model.backbone.type.split('.')[-1]
        assert type(built.model.backbone).__name__ == expected, mentor.name
    hub = runner.message_hub
    assert torch.isfinite(torch.as_tensor(hub.get_scalar('train/loss').current()))
    for mentor in cfg.model.mentors:
        assert f'train/classroom/r_{mentor.name}' in hub.log_scalars, mentor.name
    mentoring_changes_the_loss(model)
    del runner, model
