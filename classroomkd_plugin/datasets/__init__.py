from .digits import Digits
from .fashion_mnist import FashionMNISTSplit, prepare_fashion_mnist

__all__ = ['Digits', 'FashionMNISTSplit', 'prepare_fashion_mnist']
