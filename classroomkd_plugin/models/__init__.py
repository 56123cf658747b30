"""Models of the ClassroomKD plugin."""
from .backbones import *  # noqa: F401,F403
from .classifiers import TorchvisionClassifier
from .distillers import ClassroomDistiller, ClassroomError
from .losses import ClassroomKDLoss

__all__ = ['ClassroomDistiller', 'ClassroomError', 'ClassroomKDLoss', 'TorchvisionClassifier']
