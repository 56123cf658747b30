"""CIFAR model zoo: parameter counts, forward shapes, configs and CRD checkpoint conversion."""
import importlib.util
import math
from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.runner import load_checkpoint
from mmpretrain.registry import MODELS

from classroomkd_plugin.models import backbones
from crd_layout import CRD_LAYOUTS

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
# Parameters of CRD's 100-class models: the sums over the layouts of crd_layout.py (buffers
# excluded), so that an edit of a layout shows; they round to the published figures above, and
# ShuffleV2's is the 1,355,528 of CRD's definition (its 1x1 stem; a 3x3 one has 1,356,104).
CRD_PARAMS = {
    'resnet8': 83_892,
    'resnet14': 181_108,
    'resnet20': 278_324,
    'resnet32': 472_756,
    'resnet44': 667_188,
    'resnet56': 861_620,
    'resnet110': 1_736_564,
    'resnet8x4': 1_233_540,
    'resnet32x4': 7_433_860,
    'resnet50': 23_705_252,
    'wrn_16_2': 703_284,
    'wrn_40_2': 2_255_156,
    'vgg8': 3_965_028,
    'vgg13': 9_462_180,
    'mobilenetv2': 812_836,
    'shufflenetv1': 949_258,
    'shufflenetv2': 1_355_528,
}
BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')
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


def random_crd_state(arch: str) -> dict:
    """A state dict of CRD's layout for ``arch`` with random values of a trained network's
    scale (fan-in scaled weights, positive running variances), so that logits stay finite."""
    generator = torch.Generator().manual_seed(0)
    state = {}
    for key, shape in CRD_LAYOUTS[arch][0].items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.tensor(240)
        elif key.endswith('running_var'):
            state[key] = 0.5 + torch.rand(shape, generator=generator)
        elif len(shape) > 1:
            state[key] = torch.randn(shape, generator=generator) / math.sqrt(
                math.prod(shape[1:]))
        else:
            state[key] = 0.1 * torch.randn(shape, generator=generator)
    return state


def test_crd_layouts_have_the_published_size():
    assert sorted(CRD_LAYOUTS) == sorted(set(PUBLISHED_PARAMS_M) - NOT_CRD) == sorted(CRD_PARAMS)
    for arch, (layout, _) in CRD_LAYOUTS.items():
        assert sum(math.prod(s) for k, s in layout.items()
                   if not k.endswith(BUFFERS)) == CRD_PARAMS[arch], arch
        published = PUBLISHED_PARAMS_M[arch]
        assert abs(CRD_PARAMS[arch] / 1e6 - published) <= 0.01 * max(1, published), arch


@pytest.mark.parametrize('arch', sorted(CRD_LAYOUTS))
def test_crd_checkpoint_converts_and_loads_strictly(arch, tmp_path):
    crd_state = random_crd_state(arch)
    classifier = CRD_LAYOUTS[arch][1]
    # CRD's training script saves the DataParallel-wrapped model alongside its bookkeeping.
    src, dst = tmp_path / 'ckpt_epoch_240.pth', tmp_path / 'converted.pth'
    torch.save({'model': {f'module.{k}': v for k, v in crd_state.items()}, 'epoch': 240,
                'accuracy': torch.tensor(70.5)}, src)

    tool.main([arch, str(src), str(dst)])

    target = build_classifier(arch).eval()
    checkpoint = load_checkpoint(target, str(dst), map_location='cpu', strict=True)
    assert checkpoint['meta'] == {
        'arch': arch, 'source': 'ckpt_epoch_240.pth', 'epoch': 240, 'accuracy': 70.5}
    ours = target.state_dict()
    for key, value in crd_state.items():
        our_key = ('head.fc' + key[len(classifier):] if key.startswith(f'{classifier}.')
                   else f'backbone.{key}')
        assert torch.equal(ours[our_key], value), key
    assert sum(p.numel() for p in target.parameters()) == CRD_PARAMS[arch]
    with torch.no_grad():
        logits = target(torch.randn(2, 3, 32, 32), mode='tensor')
    assert logits.shape == (2, 100) and torch.isfinite(logits).all()
    # the export direction gives CRD's keys back
    assert set(tool.mmpretrain_to_crd(arch, ours)) == set(crd_state)


def test_conversion_rejects_unknown_arch(tmp_path):
    with pytest.raises(SystemExit):
        tool.main(['resnet18', str(tmp_path / 'a.pth'), str(tmp_path / 'b.pth')])
    with pytest.raises(ValueError, match='valid archs'):
        tool.key_rules('resnet18')


def test_conversion_rejects_keys_that_do_not_map():
    crd_state = random_crd_state('resnet20')
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
    # the authors' recipe for every mentor, as for the classrooms (tests/test_recipes.py)
    assert cfg.optim_wrapper.optimizer.lr == 0.05
    model = MODELS.build(cfg.model)
    assert model.head.num_classes == 100


def test_mentor_config_for_every_arch():
    assert sorted(p.stem for p in MENTOR_CONFIGS.glob('*_cifar100.py')) == sorted(
        f'{arch}_cifar100' for arch in PUBLISHED_PARAMS_M)
