"""Wide Residual Networks for CIFAR (CRD layout).

Module names mirror the CRD reference model (``conv1``, ``blockN.layer.i.*``, ``convShortcut``,
final ``bn1``) so that published CRD checkpoints map onto this backbone by prefixing ``backbone.``.
"""
import re
from typing import List, Optional, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
    dict(type='Constant', layer='BatchNorm2d', val=1, bias=0),
]


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3 twice; a 1x1 projection of the pre-activated input on shape change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.equal_in_out = in_channels == out_channels and stride == 1
        self.convShortcut = None if self.equal_in_out else nn.Conv2d(
            in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        preact = self.relu(self.bn1(x))
        out = self.relu(self.bn2(self.conv1(preact)))
        out = self.conv2(out)
        # The identity path carries the raw input; a projection consumes the pre-activation.
        identity = x if self.equal_in_out else self.convShortcut(preact)
        return out + identity


class NetworkBlock(nn.Module):
    """A stage of pre-activation blocks; the extra ``layer`` level matches CRD's key names."""

    def __init__(self, num_blocks: int, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(*[
            PreActBlock(in_channels if i == 0 else out_channels, out_channels,
                        stride if i == 0 else 1) for i in range(num_blocks)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.layer(x)


@MODELS.register_module()
class CifarWideResNet(BaseModule):
    """Wide ResNet WRN-d-k for 32x32 inputs.

    Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016, in the form used by CRD
    (Tian et al., ICLR 2020): a 16-channel 3x3 stem and three stages of (d - 4) / 6
    pre-activation blocks with widths 16k/32k/64k, followed by a final BN-ReLU. Dropout is not
    used (CRD trains its WRN teachers and students with a drop rate of 0).

    Args:
        arch: ``'wrn_<depth>_<widen_factor>'`` with depth = 6n + 4, e.g. ``'wrn_16_2'`` or
            ``'wrn_40_2'``.
        init_cfg: MMEngine initialisation config; defaults to CRD's initialisation.

    Returns from ``forward``: a one-tuple with the feature map (N, 64k, H/4, W/4).
    """

    arch_pattern = re.compile(r'wrn_(\d+)_(\d+)')

    def __init__(self, arch: str = 'wrn_40_2',
                 init_cfg: Optional[Union[dict, List[dict]]] = DEFAULT_INIT_CFG) -> None:
        super().__init__(init_cfg=init_cfg)
        depth, widen_factor = self.settings(arch)
        self.arch = arch
        n = (depth - 4) // 6
        channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        self.conv1 = nn.Conv2d(3, channels[0], 3, padding=1, bias=False)
        self.block1 = NetworkBlock(n, channels[0], channels[1], stride=1)
        self.block2 = NetworkBlock(n, channels[1], channels[2], stride=2)
        self.block3 = NetworkBlock(n, channels[2], channels[3], stride=2)
        self.bn1 = nn.BatchNorm2d(channels[3])
        self.relu = nn.ReLU(inplace=True)

    @classmethod
    def settings(cls, arch: str) -> Tuple[int, int]:
        """(depth, widen_factor) parsed from the arch name."""
        match = cls.arch_pattern.fullmatch(arch)
        depth, widen_factor = (int(g) for g in match.groups()) if match else (0, 0)
        if depth < 10 or (depth - 4) % 6 or widen_factor < 1:
            raise ValueError(f'Unknown {cls.__name__} arch {arch!r}; valid archs are '
                             "'wrn_<depth>_<widen_factor>' with depth = 6n + 4 (n >= 1) and "
                             "widen_factor >= 1, e.g. 'wrn_16_2', 'wrn_40_2'")
        return depth, widen_factor

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output feature map, i.e. the head's ``in_channels``."""
        return 64 * cls.settings(arch)[1]

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = self.conv1(x)
        x = self.block3(self.block2(self.block1(x)))
        return (self.relu(self.bn1(x)), )
