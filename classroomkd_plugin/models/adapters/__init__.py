"""How the distiller drives each kind of model; pose adapters load only for pose models."""
from typing import Optional, Sequence

from mmengine.config import Config
from torch import nn

from .base import TaskAdapter
from .cls import ClsAdapter


def adapter_for(model: nn.Module, loss: nn.Module,
                keypoint_sigmas: Optional[Sequence[float]] = None,
                config: Optional[Config] = None) -> TaskAdapter:
    """The adapter of ``model``, with the options of the ``ClassroomKDLoss`` ``loss``;
    ``config`` is the config file ``model`` came from, if any (a pose model's training set
    names its keypoints)."""
    if ClsAdapter.accepts(model):
        return ClsAdapter(model)
    if type(model).__module__.startswith('mmpose.'):
        from .pose import pose_adapter  # mmpose needs mmcv's compiled ops
        return pose_adapter(model, loss.heatmap_kd, keypoint_sigmas, config)
    raise TypeError(f'{type(model).__name__} is neither an MMPretrain classifier nor an '
                    'MMPose top-down estimator')


__all__ = ['TaskAdapter', 'ClsAdapter', 'adapter_for']
