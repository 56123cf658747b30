"""Every shipped classification classroom builds with its real architectures and trains a step."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, DefaultScope
from mmpretrain.structures import DataSample

import classroomkd_plugin  # noqa: F401
from conftest import save_random_checkpoint

CIFAR_ROWS = sorted(Path('configs/cls').glob('classroom_*_cifar100.py'))


def with_random_mentors(cfg: Config, tmp_path: Path) -> Config:
    for mentor in cfg.model.mentors:
        mentor.checkpoint = save_random_checkpoint(mentor.config, tmp_path / mentor.name)
    return cfg


def build_classroom(cfg: Config):
    with DefaultScope.overwrite_default_scope(cfg.default_scope):  # as the Runner does
        return MODELS.build(cfg.model)


def one_step(model, size: int, num_classes: int) -> dict:
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(2)]
    losses = model(torch.rand(2, 3, size, size), samples, mode='loss')
    sum(losses.values()).backward()
    return losses


def test_every_cifar_paper_row_has_a_config():
    table_2a = ['mobilenetv2_resnet50', 'mobilenetv2_vgg13', 'resnet20_resnet110',
                'resnet20_resnet56', 'resnet32_resnet110', 'shufflenetv1_wrn_40_2',
                'shufflenetv2_resnet32x4', 'vgg8_vgg13', 'wrn_16_2_wrn_40_2']
    appendix_a = ['shufflenetv1_resnet32x4']
    table_4a = ['mobilenetv2_efficientnet_b0']
    assert sorted(p.stem for p in CIFAR_ROWS) == sorted(
        f'classroom_{row}_cifar100' for row in table_2a + appendix_a + table_4a)


@pytest.mark.parametrize('config', CIFAR_ROWS, ids=lambda p: p.stem)
def test_cifar_classroom_trains_one_step(config, tmp_path):
    cfg = with_random_mentors(Config.fromfile(config), tmp_path)
    assert len(cfg.model.mentors) == 6
    model = build_classroom(cfg)
    losses = one_step(model, 32, 100)
    assert torch.isfinite(losses['loss_kd'])
    assert all(p.grad is not None for p in model.student.parameters() if p.requires_grad)


def test_imagenet_classroom_builds_its_timm_and_torchvision_mentors(tmp_path):
    cfg = with_random_mentors(Config.fromfile('configs/cls/classroom_resnet34_regnety320_in1k.py'),
                              tmp_path)
    model = build_classroom(cfg).train()  # training starts: the mentors are built
    kinds = [type(m.model).__name__ for m in model.mentors]
    assert kinds == ['TimmClassifier'] + ['TorchvisionClassifier'] * 2 + ['TimmClassifier'] * 2
    assert torch.isfinite(one_step(model, 64, 1000)['loss_kd'])
