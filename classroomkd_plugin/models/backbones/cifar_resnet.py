"""CIFAR ResNets of the knowledge-distillation literature (CRD layout).

Module names mirror the CRD reference models (``conv1``, ``bn1``, ``layerN.i.convK``, ``downsample``
for basic blocks, ``shortcut`` for bottlenecks) so that published CRD checkpoints map onto this
backbone by prefixing ``backbone.`` (see ``tools/convert_crd_checkpoint.py``).
"""
from typing import Dict, List, Optional, Sequence, Tuple, Type, Union

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from .arch import NamedArchs

# CRD initialises every CIFAR ResNet with He (fan-out) convolutions and unit BatchNorm.
DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
    dict(type='Constant', layer='BatchNorm2d', val=1, bias=0),
]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def conv1x1_bn(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a 1x1 projection when the shape changes."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != planes
        self.downsample = conv1x1_bn(in_channels, planes, stride) if needs_projection else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 bottleneck; CRD's ResNet-50 names its projection ``shortcut``."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut = conv1x1_bn(in_channels, out_channels, stride) if needs_projection else None

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def make_stage(block: Type[nn.Module], in_channels: int, planes: int, num_blocks: int,
               stride: int) -> nn.Sequential:
    blocks = [block(in_channels, planes, stride)]
    blocks += [block(planes * block.expansion, planes) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def basic_arch(depth: int, stem: int, planes: Sequence[int]) -> tuple:
    """Three stages of (depth - 2) / 6 basic blocks each."""
    n = (depth - 2) // 6
    return BasicBlock, stem, tuple(planes), (n, n, n)


@MODELS.register_module()
class CifarResNet(NamedArchs, BaseModule):
    """ResNet for 32x32 inputs as used throughout the CIFAR distillation literature.

    A 3x3 stride-1 stem (no max-pool) followed by stages whose first block halves the
    resolution (except the first stage). The ``resnet<depth>`` archs (He et al., "Deep Residual
    Learning for Image Recognition", CVPR 2016, Sec. 4.2) have basic blocks with widths 16/32/64
    and depth 6n+2; ``resnet8x4``/``resnet32x4`` are the 4x-wide variants introduced by CRD (Tian
    et al., "Contrastive Representation Distillation", ICLR 2020) with a 32-channel stem and
    widths 64/128/256; ``resnet50`` is CRD's bottleneck ResNet-50 for CIFAR (64-channel 3x3 stem,
    stages of [3, 4, 6, 3] blocks, planes 64/128/256/512).

    Args:
        arch: One of ``CifarResNet.arch_settings``.
        init_cfg: MMEngine initialisation config; defaults to CRD's initialisation.

    Returns from ``forward``: a one-tuple with the last feature map (N, C, H/4, W/4) for the
    basic-block archs and (N, 2048, H/8, W/8) for ``resnet50``.
    """

    # arch -> (block, stem channels, planes per stage, blocks per stage)
    arch_settings: Dict[str, tuple] = {
        'resnet8': basic_arch(8, 16, (16, 32, 64)),
        'resnet14': basic_arch(14, 16, (16, 32, 64)),
        'resnet20': basic_arch(20, 16, (16, 32, 64)),
        'resnet32': basic_arch(32, 16, (16, 32, 64)),
        'resnet44': basic_arch(44, 16, (16, 32, 64)),
        'resnet56': basic_arch(56, 16, (16, 32, 64)),
        'resnet110': basic_arch(110, 16, (16, 32, 64)),
        'resnet8x4': basic_arch(8, 32, (64, 128, 256)),
        'resnet32x4': basic_arch(32, 32, (64, 128, 256)),
        'resnet50': (Bottleneck, 64, (64, 128, 256, 512), (3, 4, 6, 3)),
    }

    def __init__(self, arch: str = 'resnet20',
                 init_cfg: Optional[Union[dict, List[dict]]] = DEFAULT_INIT_CFG) -> None:
        super().__init__(init_cfg=init_cfg)
        block, stem_channels, planes, num_blocks = self.settings(arch)
        self.arch = arch
        self.conv1 = conv3x3(3, stem_channels)
        self.bn1 = nn.BatchNorm2d(stem_channels)
        self.relu = nn.ReLU(inplace=True)
        in_channels = stem_channels
        self.num_stages = len(planes)
        for i, (stage_planes, n) in enumerate(zip(planes, num_blocks)):
            stage = make_stage(block, in_channels, stage_planes, n, stride=1 if i == 0 else 2)
            self.add_module(f'layer{i + 1}', stage)
            in_channels = stage_planes * block.expansion

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output feature map, i.e. the head's ``in_channels``."""
        block, _, planes, _ = cls.settings(arch)
        return planes[-1] * block.expansion

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.num_stages):
            x = getattr(self, f'layer{i + 1}')(x)
        return (x, )
