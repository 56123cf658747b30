"""CIFAR model zoo of the distillation literature (CRD layout, plus the paper's EfficientNet-B0) as
mmpretrain backbones."""
from .cifar_efficientnet import CifarEfficientNet
from .cifar_mobilenetv2 import CifarMobileNetV2
from .cifar_resnet import CifarResNet
from .cifar_shufflenet import CifarShuffleNetV1, CifarShuffleNetV2
from .cifar_vgg import CifarVGG
from .cifar_wrn import CifarWideResNet

__all__ = [
    'CifarResNet', 'CifarWideResNet', 'CifarVGG', 'CifarMobileNetV2', 'CifarShuffleNetV1',
    'CifarShuffleNetV2', 'CifarEfficientNet'
]
