from .digits import Digits
from .fashion_mnist import FashionMNISTSplit, prepare_fashion_mnist
from .views import DeterministicViews, ViewSampler

__all__ = ['DeterministicViews', 'Digits', 'FashionMNISTSplit', 'ViewSampler',
           'prepare_fashion_mnist']
