"""The paper's pose classrooms in configs/pose at full size: each builds its student and every
mentor with their real architectures (mentors loading local random-init checkpoints instead of
the official URLs) and trains one iteration at batch size 1 with the real Runner."""
import ast
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.runner import Runner

from pose_data import POSE_CONFIGS, data_options, local_mentors, write_coco, write_mpii

CONFIGS = sorted(path.name for path in POSE_CONFIGS.glob('classroom_*.py'))
OFFICIAL_URL = re.compile(r'^https://download\.openmmlab\.com/mmpose/.+\.pth$')
_checkpoints = {}  # mentor config -> random-init checkpoint, shared by the tests


def test_every_paper_classroom_has_a_config():
    assert CONFIGS == [
        'classroom_litehrnet-18_mixed_mpii-256x256.py', 'classroom_litehrnet-18_mpii-256x256.py',
        'classroom_rtmpose-t_coco-256x192.py', 'classroom_rtmpose-t_hrnet_coco-256x192.py'
    ]


@pytest.mark.parametrize('name', CONFIGS)
def test_config_names_official_checkpoints_and_keeps_the_stock_training(name):
    cfg = Config.fromfile(POSE_CONFIGS / name)
    stock = get_config(_base_of(name))
    assert cfg.model.type == 'ClassroomDistiller'
    assert _unscoped(cfg.model.student) == _unscoped(stock.model)
    for key in ('train_dataloader', 'val_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'val_evaluator', 'custom_hooks'):
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
    for mentor, built in zip(cfg.model.mentors, model.mentors):
        expected = get_config(mentor.config).model.backbone.type.split('.')[-1]
        assert type(built.model.backbone).__name__ == expected, mentor.name
    runner.train()

    assert runner.iter == 1
    hub = runner.message_hub
    assert torch.isfinite(torch.as_tensor(hub.get_scalar('train/loss').current()))
    for mentor in cfg.model.mentors:
        assert f'train/classroom/r_{mentor.name}' in hub.log_scalars, mentor.name
    del runner, model
