from .torchvision_classifier import TorchvisionClassifier

__all__ = ['TorchvisionClassifier']
