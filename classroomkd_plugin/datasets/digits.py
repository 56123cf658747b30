from typing import List

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

from .label_noise import replace_labels

SPLITS = {'train': (0.0, 0.7), 'val': (0.7, 0.8), 'test': (0.8, 1.0)}


@DATASETS.register_module()
class Digits(BaseDataset):
    """Handwritten digits bundled with scikit-learn (1797 images of 8x8, 10 classes):
    real data that needs no download.

    Images are served as 8x8x3 uint8 arrays under ``img``, like MMPretrain's CIFAR datasets,
    so the standard pipelines apply (resize them first).

    Args:
        split (str): 'train' (70%), 'val' (10%) or 'test' (20%) of a fixed shuffle.
        label_noise (float): fraction of labels replaced by a random other class, to make a
            deliberately weak mentor. Defaults to 0.
        seed (int): seed of the label noise.
        **kwargs: other arguments of :class:`mmpretrain.datasets.BaseDataset`.
    """

    METAINFO = {'classes': tuple(str(d) for d in range(10))}

    def __init__(self, split: str = 'train', label_noise: float = 0.0, seed: int = 0,
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'Digits: split must be one of {list(SPLITS)}, got {split!r}')
        self.split = split
        self.label_noise = label_noise
        self.seed = seed
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> List[dict]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.RandomState(0).permutation(len(digits.target))
        start, end = (int(round(f * len(order))) for f in SPLITS[self.split])
        index = order[start:end]
        images = (digits.images[index] * (255 / 16)).round().astype(np.uint8)
        labels = replace_labels(digits.target[index], self.label_noise, 10, self.seed)
        return [
            dict(img=np.repeat(image[..., None], 3, axis=2), gt_label=int(label))
            for image, label in zip(images, labels)
        ]
