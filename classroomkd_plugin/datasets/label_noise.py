import numpy as np


def replace_labels(labels: np.ndarray, fraction: float, num_classes: int,
                   seed: int) -> np.ndarray:
    """A copy of ``labels`` where a random ``fraction`` of them is replaced by a random other
    class (the same ones for the same seed): how the deliberately weak mentors are made."""
    labels = labels.copy()
    if fraction > 0:
        rng = np.random.RandomState(seed)
        noisy = rng.rand(len(labels)) < fraction
        labels[noisy] = (labels[noisy] + rng.randint(1, num_classes, noisy.sum())) % num_classes
    return labels
