"""MobileNetV2 for CIFAR (CRD layout).

Module names mirror the CRD reference model (``conv1``, ``blocks.i.j.conv.k``, ``conv2``) so that
published CRD checkpoints map onto this backbone by prefixing ``backbone.``.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from .arch import NamedArchs

# CRD draws convolutions from N(0, 2 / (k * k * out_channels)), i.e. He fan-out.
DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
    dict(type='Constant', layer='BatchNorm2d', val=1, bias=0),
]

# (expansion, channels, blocks, first stride) per stage; ``None`` means the arch's expansion.
# Compared with ImageNet MobileNetV2 the second stage keeps stride 1, so a 32x32 input is
# reduced 16x in total (the stem still has stride 2).
STAGES = (
    (1, 16, 1, 1),
    (None, 24, 2, 1),
    (None, 32, 3, 2),
    (None, 64, 4, 2),
    (None, 96, 3, 1),
    (None, 160, 3, 2),
    (None, 320, 1, 1),
)
LAST_CHANNELS = 1280


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int,
                 stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class InvertedResidual(nn.Module):
    """Pointwise expansion, depthwise 3x3, linear pointwise projection.

    CRD keeps the expansion convolution even for an expansion of 1, which fixes the
    ``conv.<index>`` layout of every block.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return x + out if self.use_residual else out


@MODELS.register_module()
class CifarMobileNetV2(NamedArchs, BaseModule):
    """MobileNetV2 for 32x32 inputs.

    Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018, in the
    CIFAR form of CRD (Tian et al., ICLR 2020). ``mobilenetv2_0.5`` is CRD's ``mobile_half``
    (width multiplier 0.5, expansion 6), the student used in CRD and ClassroomKD; the last
    1x1 convolution keeps 1280 channels for width multipliers up to 1.

    Args:
        arch: One of ``CifarMobileNetV2.arch_settings``.
        init_cfg: MMEngine initialisation config; defaults to CRD's initialisation.

    Returns from ``forward``: a one-tuple with the feature map (N, 1280, H/16, W/16).
    """

    # arch -> (width multiplier, expansion)
    arch_settings: Dict[str, Tuple[float, int]] = {
        'mobilenetv2_0.5': (0.5, 6),
        'mobilenetv2_1.0': (1.0, 6),
    }

    def __init__(self, arch: str = 'mobilenetv2_0.5',
                 init_cfg: Optional[Union[dict, List[dict]]] = DEFAULT_INIT_CFG) -> None:
        super().__init__(init_cfg=init_cfg)
        width_mult, expansion = self.settings(arch)
        self.arch = arch
        in_channels = int(32 * width_mult)
        self.conv1 = conv_bn_relu(3, in_channels, 3, stride=2)
        self.blocks = nn.ModuleList()
        for stage_expansion, channels, num_blocks, stride in STAGES:
            out_channels = int(channels * width_mult)
            stage = []
            for i in range(num_blocks):
                stage.append(InvertedResidual(in_channels, out_channels, stride if i == 0 else 1,
                                              stage_expansion or expansion))
                in_channels = out_channels
            self.blocks.append(nn.Sequential(*stage))
        self.conv2 = conv_bn_relu(in_channels, LAST_CHANNELS, 1)

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output feature map, i.e. the head's ``in_channels``."""
        cls.settings(arch)
        return LAST_CHANNELS

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = self.conv1(x)
        for stage in self.blocks:
            x = stage(x)
        return (self.conv2(x), )
