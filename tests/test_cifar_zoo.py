"""CIFAR model zoo: parameter counts, forward shapes, configs and CRD checkpoint conversion."""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from classroomkd_plugin.models import backbones

ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIGS = ROOT / 'configs' / 'cls' / '_base_' / 'models'
MENTOR_CONFIGS = ROOT / 'configs' / 'cls' / 'mentors'

# Millions of parameters of the 100-class classifier as published by CRD (Tian et al., ICLR
# 2020) and ClassroomKD (Sarode et al., 2024); ResNet-20/110 are quoted as 0.27/1.73 there.
PUBLISHED_PARAMS_M = {
    'resnet8': 0.08,
    'resnet14': 0.18,
    'resnet20': 0.28,
    'resnet32': 0.47,
    'resnet44': 0.67,
    'resnet56': 0.86,
    'resnet110': 1.74,
    'resnet8x4': 1.23,
    'resnet32x4': 7.43,
    'wrn_16_2': 0.70,
    'wrn_40_2': 2.26,
    'vgg8': 3.96,
    'vgg13': 9.46,
    'mobilenetv2': 0.81,
    'shufflenetv1': 0.95,
    'shufflenetv2': 1.36,
    'resnet50': 23.7,
    'efficientnet_b0': 4.14,  # the paper's Table 4 model; exact count in test_cifar_efficientnet
}
NOT_CRD = {'efficientnet_b0'}  # no CRD checkpoint exists to convert
CONVERTED_ARCHS = [
    'resnet20', 'wrn_40_2', 'vgg13', 'resnet32x4', 'mobilenetv2', 'shufflenetv1', 'shufflenetv2',
    'resnet50'
]


def load_tool():
    path = ROOT / 'tools' / 'convert_crd_checkpoint.py'
    spec = importlib.util.spec_from_file_location('convert_crd_checkpoint', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


def build_classifier(arch: str) -> torch.nn.Module:
    cfg = Config.fromfile(str(MODEL_CONFIGS / f'{arch}.py'))
    return MODELS.build(cfg.model)


def test_every_arch_has_a_model_config():
    assert sorted(p.stem for p in MODEL_CONFIGS.glob('*.py')) == sorted(PUBLISHED_PARAMS_M)
    assert sorted(tool.ARCHS) == sorted(set(PUBLISHED_PARAMS_M) - NOT_CRD)


@pytest.mark.parametrize('arch', sorted(PUBLISHED_PARAMS_M))
def test_param_count_and_forward(arch):
    model = build_classifier(arch).eval()
    num_params = sum(p.numel() for p in model.parameters()) / 1e6
    published = PUBLISHED_PARAMS_M[arch]
    tolerance = 0.01 if published < 1 else 0.01 * published
    assert abs(num_params - published) <= tolerance, f'{arch}: {num_params:.3f} M'

    backbone = model.backbone
    assert model.head.fc.in_features == type(backbone).out_channels(backbone.arch)
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 100)


BACKBONE_ARCHS = [(cls, arch) for cls in (
    backbones.CifarResNet, backbones.CifarVGG, backbones.CifarMobileNetV2,
    backbones.CifarShuffleNetV1, backbones.CifarShuffleNetV2) for arch in cls.arch_settings]
BACKBONE_ARCHS += [(backbones.CifarWideResNet, arch) for arch in ('wrn_10_1', 'wrn_16_4')]


@pytest.mark.parametrize('cls,arch', BACKBONE_ARCHS, ids=[arch for _, arch in BACKBONE_ARCHS])
def test_every_backbone_arch_runs(cls, arch):
    backbone = cls(arch=arch)
    backbone.init_weights()
    with torch.no_grad():
        (features, ) = backbone(torch.randn(1, 3, 32, 32))
    assert features.dim() == 4 and features.shape[1] == cls.out_channels(arch)


@pytest.mark.parametrize('cls,arch', [
    (backbones.CifarResNet, 'resnet18'),
    (backbones.CifarWideResNet, 'wrn_18_2'),
    (backbones.CifarWideResNet, 'wrn40_2'),
    (backbones.CifarVGG, 'vgg16'),
    (backbones.CifarMobileNetV2, 'mobilenetv2'),
    (backbones.CifarShuffleNetV1, 'shufflenetv1_g2'),
    (backbones.CifarShuffleNetV2, 'shufflenetv2_3.0'),
])
def test_unknown_arch_is_rejected(cls, arch):
    with pytest.raises(ValueError, match='valid archs'):
        cls(arch=arch)


@pytest.mark.parametrize('arch', CONVERTED_ARCHS)
def test_crd_checkpoint_round_trip(arch, tmp_path):
    torch.manual_seed(0)
    source = build_classifier(arch)
    crd_state = tool.mmpretrain_to_crd(arch, source.state_dict())
    assert not any(k.startswith(('backbone.', 'head.')) for k in crd_state)
    classifier = tool.ARCHS[arch][2]
    assert f'{classifier}.weight' in crd_state and f'{classifier}.bias' in crd_state
    # CRD's training script saves the DataParallel-wrapped model alongside its bookkeeping.
    crd_state = {f'module.{k}': v for k, v in crd_state.items()}
    src, dst = tmp_path / 'ckpt_epoch_240.pth', tmp_path / 'converted.pth'
    torch.save({'model': crd_state, 'epoch': 240, 'accuracy': torch.tensor(70.5)}, src)

    tool.main([arch, str(src), str(dst)])

    target = build_classifier(arch)
    checkpoint = load_checkpoint(target, str(dst), map_location='cpu', strict=True)
    assert checkpoint['meta'] == {
        'arch': arch, 'source': 'ckpt_epoch_240.pth', 'epoch': 240, 'accuracy': 70.5}
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key


def test_conversion_rejects_unknown_arch(tmp_path):
    with pytest.raises(SystemExit):
        tool.main(['resnet18', str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')])
    with pytest.raises(ValueError, match='valid archs'):
        tool.key_rules('resnet18')


def test_conversion_rejects_keys_that_do_not_map():
    crd_state = tool.mmpretrain_to_crd('resnet20', build_classifier('resnet20').state_dict())
    with pytest.raises(ValueError, match="unexpected key 'backbone.extra.weight'"):
        tool.crd_to_mmpretrain('resnet20', {**crd_state, 'extra.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r"shape of 'backbone.conv1.weight' is \(8, 3, 3, 3\)"):
        tool.crd_to_mmpretrain('resnet20', {**crd_state, 'conv1.weight': torch.zeros(8, 3, 3, 3)})
    # A checkpoint of another arch: the report names the classifier and is capped.
    with pytest.raises(ValueError, match=r"missing key 'head.fc.weight'[\s\S]*and \d+ more"):
        tool.crd_to_mmpretrain('mobilenetv2', crd_state)


@pytest.mark.parametrize('path', sorted(MENTOR_CONFIGS.glob('*_cifar100.py')), ids=lambda p: p.stem)
def test_mentor_config_builds(path):
    cfg = Config.fromfile(str(path))
    arch = path.stem[:-len('_cifar100')]
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.train_cfg.max_epochs == 240
    assert cfg.custom_imports.imports == ['classroomkd_plugin']
    expected_lr = 0.01 if arch in ('mobilenetv2', 'shufflenetv1', 'shufflenetv2') else 0.05
    assert cfg.optim_wrapper.optimizer.lr == expected_lr
    model = MODELS.build(cfg.model)
    assert model.head.num_classes == 100


def test_mentor_config_for_every_arch():
    assert sorted(p.stem for p in MENTOR_CONFIGS.glob('*_cifar100.py')) == sorted(
        f'{arch}_cifar100' for arch in PUBLISHED_PARAMS_M)
