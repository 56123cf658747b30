"""VGG with BatchNorm for CIFAR (CRD layout).

Module names mirror the CRD reference model (``blockN.<index>`` inside each stage's
``nn.Sequential``) so that published CRD checkpoints map onto this backbone by prefixing
``backbone.``.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from .arch import NamedArchs

DEFAULT_INIT_CFG = [
    dict(type='Kaiming', layer='Conv2d', mode='fan_out', nonlinearity='relu'),
    dict(type='Constant', layer='BatchNorm2d', val=1, bias=0),
]


def make_stage(in_channels: int, widths: Sequence[int]) -> nn.Sequential:
    """conv3x3(bias)-BN-ReLU per width, ending with the last BN so the layout (and hence the
    Sequential indices) matches CRD, which applies the stage's final ReLU in ``forward``."""
    layers: List[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(in_channels, width, 3, padding=1),
                   nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        in_channels = width
    return nn.Sequential(*layers[:-1])


@MODELS.register_module()
class CifarVGG(NamedArchs, BaseModule):
    """VGG-BN for 32x32 inputs.

    Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    ICLR 2015, in the CIFAR form of CRD (Tian et al., ICLR 2020): five stages of 3x3 conv-BN-ReLU
    with 2x2 max-pooling after the first three, so the last two stages run at 4x4 resolution
    (CRD pools after the fourth stage only for 64x64 inputs). ``vgg8`` is CRD's one-conv-per-stage
    variant. CRD classifies the globally pooled 512-d feature with a single linear layer, i.e.
    the standard ``GlobalAveragePooling`` neck and ``LinearClsHead``.

    Args:
        arch: One of ``CifarVGG.arch_settings``.
        init_cfg: MMEngine initialisation config; defaults to CRD's initialisation.

    Returns from ``forward``: a one-tuple with the feature map (N, 512, H/8, W/8).
    """

    # arch -> conv widths of the five stages
    arch_settings: Dict[str, Tuple[Tuple[int, ...], ...]] = {
        'vgg8': ((64, ), (128, ), (256, ), (512, ), (512, )),
        'vgg11': ((64, ), (128, ), (256, 256), (512, 512), (512, 512)),
        'vgg13': ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    }
    num_pooled_stages = 3

    def __init__(self, arch: str = 'vgg13',
                 init_cfg: Optional[Union[dict, List[dict]]] = DEFAULT_INIT_CFG) -> None:
        super().__init__(init_cfg=init_cfg)
        stages = self.settings(arch)
        self.arch = arch
        self.num_stages = len(stages)
        in_channels = 3
        for i, widths in enumerate(stages):
            self.add_module(f'block{i}', make_stage(in_channels, widths))
            in_channels = widths[-1]
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2, 2)

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output feature map, i.e. the head's ``in_channels``."""
        return cls.settings(arch)[-1][-1]

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        for i in range(self.num_stages):
            x = self.relu(getattr(self, f'block{i}')(x))
            if i < self.num_pooled_stages:
                x = self.pool(x)
        return (x, )
