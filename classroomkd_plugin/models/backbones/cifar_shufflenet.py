"""ShuffleNetV1 / V2 for CIFAR (CRD layout).

Module names mirror the CRD reference models (``conv1``, ``bn1``, ``layerN.i.convK``/``bnK``,
and for V2 the final ``conv2``/``bn2``) so that published CRD checkpoints map onto these
backbones by prefixing ``backbone.``.
"""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from .arch import NamedArchs

# Both CIFAR ShuffleNets start from a 24-channel stem at full resolution.
STEM_CHANNELS = 24


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """Interleave the channels of ``groups`` equal groups: (g, C/g) -> (C/g, g)."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class ShuffleV1Block(nn.Module):
    """Grouped 1x1 -> shuffle -> depthwise 3x3 -> grouped 1x1 bottleneck.

    A stride-2 block concatenates the average-pooled input, so its branch produces
    ``out_channels - in_channels`` channels (the caller passes that as ``out_channels``).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, groups: int) -> None:
        super().__init__()
        self.stride = stride
        mid_channels = out_channels // 4
        # The 24-channel stem output is too thin to split into groups.
        self.first_groups = 1 if in_channels == STEM_CHANNELS else groups
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, groups=self.first_groups, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride, 1, groups=mid_channels,
                               bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, groups=groups, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = channel_shuffle(out, self.first_groups)
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.stride == 2:
            out = torch.cat([out, F.avg_pool2d(x, 3, stride=2, padding=1)], 1)
        else:
            out = out + x
        return F.relu(out)


@MODELS.register_module()
class CifarShuffleNetV1(NamedArchs, BaseModule):
    """ShuffleNetV1 for 32x32 inputs.

    Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
    Devices", CVPR 2018, in the CIFAR form used by CRD (Tian et al., ICLR 2020) ("ShuffleV1"):
    a 1x1 24-channel stem without down-sampling and three stages of [4, 8, 4] blocks, each
    starting with a stride-2 block.

    Args:
        arch: One of ``CifarShuffleNetV1.arch_settings``; ``shufflenetv1_g3`` is CRD's model
            (3 groups, stage widths 240/480/960).
        init_cfg: MMEngine initialisation config; CRD keeps PyTorch's default initialisation.

    Returns from ``forward``: a one-tuple with the feature map (N, C, H/8, W/8).
    """

    # arch -> (groups, stage widths, blocks per stage)
    arch_settings: Dict[str, Tuple[int, Tuple[int, ...], Tuple[int, ...]]] = {
        'shufflenetv1_g3': (3, (240, 480, 960), (4, 8, 4)),
    }

    def __init__(self, arch: str = 'shufflenetv1_g3',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        groups, widths, num_blocks = self.settings(arch)
        self.arch = arch
        in_channels = STEM_CHANNELS
        self.conv1 = nn.Conv2d(3, in_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        for i, (width, n) in enumerate(zip(widths, num_blocks)):
            blocks = [ShuffleV1Block(in_channels, width - in_channels, 2, groups)]
            blocks += [ShuffleV1Block(width, width, 1, groups) for _ in range(n - 1)]
            self.add_module(f'layer{i + 1}', nn.Sequential(*blocks))
            in_channels = width

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output feature map, i.e. the head's ``in_channels``."""
        return cls.settings(arch)[1][-1]

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        return (self.layer3(self.layer2(self.layer1(x))), )


class ShuffleV2Block(nn.Module):
    """Channel split; the second half goes through 1x1 -> depthwise 3x3 -> 1x1; shuffle."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.conv1 = nn.Conv2d(half, half, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, groups=half, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv3 = nn.Conv2d(half, half, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(half)

    def forward(self, x: Tensor) -> Tensor:
        kept, branch = x.chunk(2, dim=1)
        branch = F.relu(self.bn1(self.conv1(branch)))
        branch = self.bn2(self.conv2(branch))
        branch = F.relu(self.bn3(self.conv3(branch)))
        return channel_shuffle(torch.cat([kept, branch], 1), 2)


class ShuffleV2DownBlock(nn.Module):
    """Stride-2 block: both branches see the whole input and are concatenated, then shuffled."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        mid = out_channels // 2
        # left: depthwise 3x3 (stride 2) -> 1x1
        self.conv1 = nn.Conv2d(in_channels, in_channels, 3, 2, 1, groups=in_channels, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        # right: 1x1 -> depthwise 3x3 (stride 2) -> 1x1
        self.conv3 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv4 = nn.Conv2d(mid, mid, 3, 2, 1, groups=mid, bias=False)
        self.bn4 = nn.BatchNorm2d(mid)
        self.conv5 = nn.Conv2d(mid, mid, 1, bias=False)
        self.bn5 = nn.BatchNorm2d(mid)

    def forward(self, x: Tensor) -> Tensor:
        left = self.bn1(self.conv1(x))
        left = F.relu(self.bn2(self.conv2(left)))
        right = F.relu(self.bn3(self.conv3(x)))
        right = self.bn4(self.conv4(right))
        right = F.relu(self.bn5(self.conv5(right)))
        return channel_shuffle(torch.cat([left, right], 1), 2)


def make_v2_stage(in_channels: int, out_channels: int, num_blocks: int) -> nn.Sequential:
    """A down-sampling block followed by ``num_blocks`` basic blocks (CRD counts only these)."""
    blocks = [ShuffleV2DownBlock(in_channels, out_channels)]
    blocks += [ShuffleV2Block(out_channels) for _ in range(num_blocks)]
    return nn.Sequential(*blocks)


@MODELS.register_module()
class CifarShuffleNetV2(NamedArchs, BaseModule):
    """ShuffleNetV2 for 32x32 inputs.

    Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
    ECCV 2018, in the CIFAR form used by CRD (Tian et al., ICLR 2020) ("ShuffleV2"): a 1x1
    24-channel stem without down-sampling or max-pooling, three stages (each a stride-2 block
    plus [3, 7, 3] blocks) and a final 1x1 convolution.

    Args:
        arch: One of ``CifarShuffleNetV2.arch_settings``; the suffix is the network size;
            ``shufflenetv2_1.0`` is CRD's model (widths 116/232/464, 1024 output channels).
        init_cfg: MMEngine initialisation config; CRD keeps PyTorch's default initialisation.

    Returns from ``forward``: a one-tuple with the feature map (N, C, H/8, W/8).
    """

    # arch -> (stage widths + output channels, basic blocks per stage)
    arch_settings: Dict[str, Tuple[Tuple[int, ...], Tuple[int, ...]]] = {
        'shufflenetv2_0.5': ((48, 96, 192, 1024), (3, 7, 3)),
        'shufflenetv2_1.0': ((116, 232, 464, 1024), (3, 7, 3)),
        'shufflenetv2_1.5': ((176, 352, 704, 1024), (3, 7, 3)),
        'shufflenetv2_2.0': ((224, 488, 976, 2048), (3, 7, 3)),
    }

    def __init__(self, arch: str = 'shufflenetv2_1.0',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        widths, num_blocks = self.settings(arch)
        self.arch = arch
        in_channels = STEM_CHANNELS
        self.conv1 = nn.Conv2d(3, in_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(in_channels)
        for i, (width, n) in enumerate(zip(widths[:3], num_blocks)):
            self.add_module(f'layer{i + 1}', make_v2_stage(in_channels, width, n))
            in_channels = width
        self.conv2 = nn.Conv2d(in_channels, widths[3], 1, bias=False)
        self.bn2 = nn.BatchNorm2d(widths[3])

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output feature map, i.e. the head's ``in_channels``."""
        return cls.settings(arch)[0][3]

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return (F.relu(self.bn2(self.conv2(x))), )
