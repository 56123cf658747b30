"""EfficientNet for CIFAR: timm's model with a stride-1 stem.

The ClassroomKD authors' CIFAR EfficientNet-B0 (Table 4(a) of the paper) is the ImageNet model
with the stride of its stem convolution set to 1 and nothing else changed; this backbone does
the same to timm's ``efficientnet_b0``. Every stage keeps its ImageNet stride (1, 2, 2, 2, 1, 2, 1),
so a 32x32 input reaches the last stage at 2x2 (ImageNet: 224 -> 7x7). One detail differs: the
authors' model (the ``efficientnet_pytorch`` package) keeps the TensorFlow 'same' padding it
computed for 224x224 inputs, which pads the stem on one side only and so crops its stride-1
output to 31x31; timm pads symmetrically and keeps 32x32.
"""
from typing import Dict, List, Optional, Tuple, Union

import timm
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor

from .arch import NamedArchs


@MODELS.register_module()
class CifarEfficientNet(NamedArchs, BaseModule):
    """EfficientNet for 32x32 inputs, built by timm.

    Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
    ICML 2019, as ``timm.create_model`` builds it, with a stride-1 stem as in the CIFAR
    EfficientNet-B0 of the ClassroomKD paper (Sarode et al., https://arxiv.org/abs/2409.20237,
    Table 4(a)). The regularisation and normalisation follow B0's reference settings, which the
    authors' model (the ``efficientnet_pytorch`` package) uses: dropout 0.2 before the
    classifier, stochastic depth 0.2, BatchNorm eps 1e-3 and momentum 0.01.

    The backbone includes timm's global pooling and that dropout, so its classifier needs no
    neck: a ``LinearClsHead`` on ``out_channels(arch)`` features.

    Args:
        arch: One of ``CifarEfficientNet.arch_settings``.
        init_cfg: MMEngine initialisation config; ``None`` keeps timm's initialisation (the
            reference one of EfficientNet).

    Returns from ``forward``: a one-tuple with the pooled features (N, 1280).
    """

    # arch -> (timm model name, dropout before the classifier, stochastic depth)
    arch_settings: Dict[str, Tuple[str, float, float]] = {
        'efficientnet_b0': ('efficientnet_b0', 0.2, 0.2),
    }

    def __init__(self, arch: str = 'efficientnet_b0',
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        name, drop_rate, drop_path_rate = self.settings(arch)
        self.arch = arch
        self.model = timm.create_model(name, pretrained=False, num_classes=0,
                                       drop_rate=drop_rate, drop_path_rate=drop_path_rate,
                                       bn_eps=1e-3, bn_momentum=0.01)
        self.model.conv_stem.stride = (1, 1)

    @classmethod
    def out_channels(cls, arch: str) -> int:
        """Channels of the output features, i.e. the head's ``in_channels``."""
        cls.settings(arch)
        return 1280

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        return (self.model.forward_head(self.model.forward_features(x), pre_logits=True), )
