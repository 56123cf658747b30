from abc import abstractmethod
from typing import Any, Dict, Optional, Sequence

import torch
from mmengine.visualization import Visualizer
from mmpose.models import TopdownPoseEstimator
from mmpose.models.heads import HeatmapHead, RTMCCHead, SimCCHead
from torch import Tensor, nn

from classroomkd_plugin.core.pose import (HeatmapRep, PoseTargets, SimCCRep, decode_heatmaps,
                                          decode_simcc)
from .base import TaskAdapter

# OKS sigma for datasets whose metainfo has none (the mean of COCO's 17 sigmas)
UNIFORM_SIGMA = 0.0716


def _training_set_sigmas() -> Optional[Sequence[float]]:
    """OKS sigmas of the training set: MMEngine's train loop gives its metainfo to the
    visualizer."""
    try:
        meta = Visualizer.get_current_instance().dataset_meta or {}
    except RuntimeError:  # no runner, no visualizer
        meta = {}
    return meta.get('sigmas')


class PoseAdapter(TaskAdapter):
    """MMPose top-down estimators; the head's own loss module is the task loss.

    Args:
        model: a ``TopdownPoseEstimator``.
        sigmas: OKS sigmas; default those of the training set.
    """

    def __init__(self, model: nn.Module, sigmas: Optional[Sequence[float]] = None):
        super().__init__(model)
        codec = model.head.decoder
        if codec is None:
            raise ValueError(f'{type(model.head).__name__} has no decoder (codec)')
        self.input_size = tuple(int(v) for v in codec.input_size)
        self.sigmas = sigmas

    def outputs(self, inputs: Tensor):
        return self.model.head(self.model.extract_feat(inputs))

    @abstractmethod
    def encoded_targets(self, data_samples: Sequence):
        """The targets the pipeline encoded with this head's codec."""

    @abstractmethod
    def decode(self, encoded) -> Tensor:
        """[N, K, 2] input-space keypoints of encoded targets."""

    def keypoint_weights(self, data_samples: Sequence) -> Tensor:
        return torch.cat([s.gt_instance_labels.keypoint_weights for s in data_samples])

    def targets(self, data_samples: Sequence) -> PoseTargets:
        weights = self.keypoint_weights(data_samples)
        if 'transformed_keypoints' in data_samples[0].gt_instances:
            keypoints = torch.cat([
                torch.as_tensor(s.gt_instances.transformed_keypoints) for s in data_samples
            ]).to(weights.device, torch.float32)
        else:  # without PackPoseInputs(pack_transformed=True): the encoded targets' maxima
            keypoints = self.decode(self.encoded_targets(data_samples))
        if self.sigmas is None:
            self.sigmas = _training_set_sigmas() or [UNIFORM_SIGMA] * weights.shape[1]
        sigmas = torch.as_tensor(self.sigmas, dtype=torch.float32, device=weights.device)
        return PoseTargets(keypoints, weights, sigmas, self.input_size)

    def task_loss(self, out, data_samples: Sequence,
                  sample_weight: Optional[Tensor] = None) -> Tensor:
        weights = self.keypoint_weights(data_samples)
        if sample_weight is not None:  # MMPose's keypoint losses are linear in the weights
            weights = weights * sample_weight[:, None]
        return self.model.head.loss_module(out, self.encoded_targets(data_samples), weights)

    def signature(self) -> Dict[str, Any]:
        return {
            'number of keypoints': self.model.head.out_channels,
            'input size': self.input_size
        }


class HeatmapAdapter(PoseAdapter):
    """Heatmap heads (SimpleBaseline, HRNet, LiteHRNet, ViPNAS)."""

    def __init__(self, model: nn.Module, sigmas=None, kd_loss: str = 'mse'):
        super().__init__(model, sigmas)
        self.rep = HeatmapRep(kd_loss)

    def encoded_targets(self, data_samples: Sequence) -> Tensor:
        return torch.stack([s.gt_fields.heatmaps for s in data_samples])

    def decode(self, encoded: Tensor) -> Tensor:
        return decode_heatmaps(encoded, self.input_size)


class SimCCAdapter(PoseAdapter):
    """SimCC heads (RTMPose's RTMCC head, SimCC); logits scaled by the loss's beta."""

    def __init__(self, model: nn.Module, sigmas=None):
        super().__init__(model, sigmas)
        self.rep = SimCCRep(getattr(model.head.loss_module, 'beta', 1.0))

    def encoded_targets(self, data_samples: Sequence):
        labels = [s.gt_instance_labels for s in data_samples]
        return (torch.cat([x.keypoint_x_labels for x in labels]),
                torch.cat([x.keypoint_y_labels for x in labels]))

    def decode(self, encoded) -> Tensor:
        return decode_simcc(encoded[0], encoded[1], self.input_size)


def pose_adapter(model: nn.Module, heatmap_kd: str = 'mse',
                 sigmas: Optional[Sequence[float]] = None) -> PoseAdapter:
    if not isinstance(model, TopdownPoseEstimator):
        raise TypeError(f'{type(model).__name__} is not a top-down pose estimator')
    if isinstance(model.head, HeatmapHead):
        return HeatmapAdapter(model, sigmas, heatmap_kd)
    if isinstance(model.head, (RTMCCHead, SimCCHead)):
        return SimCCAdapter(model, sigmas)
    raise TypeError(f'{type(model.head).__name__} is not supported: ClassroomKD handles '
                    'heatmap heads and SimCC heads')
