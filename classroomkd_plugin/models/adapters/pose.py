"""MMPose top-down estimators in a classroom: heatmap heads and SimCC heads."""
import copy
from abc import abstractmethod
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.visualization import Visualizer
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.models import TopdownPoseEstimator
from mmpose.models.heads import HeatmapHead, RTMCCHead, SimCCHead
from torch import Tensor, nn

from classroomkd_plugin.core.pose import (HeatmapRep, PoseTargets, SimCCRep, decode_heatmaps,
                                          decode_simcc)
from .base import TaskAdapter

# OKS sigma for datasets whose metainfo has none (the mean of COCO's 17 sigmas)
UNIFORM_SIGMA = 0.0716
# Codecs whose grids and scales core.pose assumes: heatmap cell i at pixel i * stride with
# peaks of 1, SimCC bin j at pixel j / split_ratio. UDPHeatmap puts cell i at
# i * (input - 1) / (heatmap - 1); MegviiHeatmap peaks at 255.
HEATMAP_CODECS = ('MSRAHeatmap', )
SIMCC_CODECS = ('SimCCLabel', )


def _runner_dataset_meta() -> dict:
    """The dataset metainfo that MMEngine's loops give the visualizer: the training set's,
    replaced by the validation set's (the same dataset in stock configs) when
    ``Runner.train`` builds the validation loop."""
    try:
        return Visualizer.get_current_instance().dataset_meta or {}
    except RuntimeError:  # no runner, no visualizer
        return {}


def _training_set_sigmas() -> Optional[Sequence[float]]:
    """OKS sigmas of the runner's dataset metainfo."""
    sigmas = _runner_dataset_meta().get('sigmas')
    return None if sigmas is None or len(sigmas) == 0 else [float(s) for s in sigmas]


def _keypoint_names(meta: dict) -> Optional[Tuple[str, ...]]:
    """Keypoint names, in keypoint order, of a parsed pose metainfo."""
    id2name = meta.get('keypoint_id2name')
    return tuple(id2name[k] for k in range(len(id2name))) if id2name else None


def trained_keypoint_names(config: Config) -> Optional[Tuple[str, ...]]:
    """Keypoint names of the training set a config file names (its ``metainfo``, else its
    dataset class's), without reading any data."""
    dataset = config.get('train_dataloader', {}).get('dataset', {})
    metainfo = dataset.get('metainfo')
    if metainfo is None:
        from mmpose.registry import DATASETS
        metainfo = getattr(DATASETS.get(dataset.get('type', '')), 'METAINFO', None)
    return _keypoint_names(parse_pose_metainfo(copy.deepcopy(dict(metainfo)))) \
        if metainfo else None


class PoseAdapter(TaskAdapter):
    """MMPose top-down estimators; the head's own loss module is the task loss.

    Ground-truth keypoints come from ``gt_instances.transformed_keypoints`` when the pipeline
    packs them (``PackPoseInputs(pack_transformed=True)``), otherwise from the encoded
    targets of the model's codec (stock pipelines).

    Args:
        model: a ``TopdownPoseEstimator``.
        sigmas: OKS sigmas; default those of the dataset metainfo, else a uniform sigma.
        config: the config file of a mentor: its training set names its keypoints. Without
            it, the keypoints are named by the runner's dataset (the student's).
    """

    codecs: Sequence[str] = ()

    def __init__(self, model: nn.Module, sigmas: Optional[Sequence[float]] = None,
                 config: Optional[Config] = None):
        super().__init__(model)
        self.config = config
        codec = model.head.decoder
        head = type(model.head).__name__
        if codec is None:
            raise ValueError(f'{head} has no decoder (codec)')
        if type(codec).__name__ not in self.codecs:
            raise ValueError(f'{head} with codec {type(codec).__name__} is not supported: '
                             f'its grid must be one of {list(self.codecs)}')
        self.input_size = tuple(int(v) for v in codec.input_size)
        self.sigmas = sigmas
        self._sigma_tensor: Optional[Tensor] = None

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

    def keypoint_sigmas(self, num_keypoints: int, device: torch.device) -> Tensor:
        """[K] OKS sigmas on ``device``, copied there once (a copy from the host would make
        every step wait for the device)."""
        if self._sigma_tensor is None or self._sigma_tensor.device != device:
            if self.sigmas is None:
                self.sigmas = _training_set_sigmas() or [UNIFORM_SIGMA] * num_keypoints
            if len(self.sigmas) != num_keypoints:
                raise ValueError(f'{len(self.sigmas)} keypoint sigmas for {num_keypoints} '
                                 'keypoints: set keypoint_sigmas of the distiller')
            self._sigma_tensor = torch.as_tensor(self.sigmas, dtype=torch.float32,
                                                 device=device)
        return self._sigma_tensor

    def targets(self, data_samples: Sequence) -> PoseTargets:
        weights = self.keypoint_weights(data_samples)
        if 'transformed_keypoints' in data_samples[0].gt_instances:
            keypoints = torch.cat([
                torch.as_tensor(s.gt_instances.transformed_keypoints, dtype=torch.float32)
                for s in data_samples
            ])
            if weights.device.type != 'cpu':  # from pinned memory the copy does not wait
                keypoints = keypoints.pin_memory()
            keypoints = keypoints.to(weights.device, non_blocking=True)
        else:
            keypoints = self.decode(self.encoded_targets(data_samples))
        sigmas = self.keypoint_sigmas(weights.shape[1], weights.device)
        return PoseTargets(keypoints, weights, sigmas, self.input_size)

    def task_loss(self, out, data_samples: Sequence,
                  sample_weight: Optional[Tensor] = None) -> Tensor:
        weights = self.keypoint_weights(data_samples)
        if sample_weight is not None:  # MMPose's keypoint losses are linear in the weights
            weights = weights * sample_weight[:, None].to(weights.dtype)
        return self.model.head.loss_module(out, self.encoded_targets(data_samples), weights)

    def signature(self) -> Dict[str, Any]:
        count = self.model.head.out_channels
        names = trained_keypoint_names(self.config) if self.config is not None else \
            _keypoint_names(_runner_dataset_meta())
        signature = {'number of keypoints': count, 'input size': self.input_size}
        # a runner's dataset of another size is not this model's (a runner that is gone)
        if names is not None and (self.config is not None or len(names) == count):
            signature['keypoint names'] = names
        return signature


class HeatmapAdapter(PoseAdapter):
    """Heatmap heads (SimpleBaseline, HRNet, LiteHRNet, ViPNAS).

    Args:
        kd_loss: the heatmap KD term, 'mse' or 'kl' (see ``HeatmapRep``).
    """

    codecs = HEATMAP_CODECS

    def __init__(self, model: nn.Module, sigmas=None, kd_loss: str = 'kl', config=None):
        super().__init__(model, sigmas, config)
        self.rep = HeatmapRep(kd_loss, model.head.decoder.sigma)

    def encoded_targets(self, data_samples: Sequence) -> Tensor:
        return torch.stack([s.gt_fields.heatmaps for s in data_samples])

    def decode(self, encoded: Tensor) -> Tensor:
        return decode_heatmaps(encoded, self.input_size)


class SimCCAdapter(PoseAdapter):
    """SimCC heads (RTMPose's RTMCC head, SimCC) with Gaussian labels; logits scaled by the
    loss's beta."""

    codecs = SIMCC_CODECS

    def __init__(self, model: nn.Module, sigmas=None, config=None):
        super().__init__(model, sigmas, config)
        codec = model.head.decoder
        if codec.smoothing_type != 'gaussian':
            raise ValueError(f"{type(model.head).__name__}: SimCCLabel(smoothing_type="
                             f"'{codec.smoothing_type}') is not supported, only 'gaussian'")
        self.rep = SimCCRep(getattr(model.head.loss_module, 'beta', 1.0), tuple(codec.sigma))

    def encoded_targets(self, data_samples: Sequence):
        labels = [s.gt_instance_labels for s in data_samples]
        return (torch.cat([x.keypoint_x_labels for x in labels]),
                torch.cat([x.keypoint_y_labels for x in labels]))

    def decode(self, encoded) -> Tensor:
        # Gaussian labels are densities: their logs are the logits decode_simcc expects
        log_x, log_y = (labels.float().clamp_min(1e-10).log() for labels in encoded)
        return decode_simcc(log_x, log_y, self.input_size)


def pose_adapter(model: nn.Module, heatmap_kd: str = 'kl',
                 sigmas: Optional[Sequence[float]] = None,
                 config: Optional[Config] = None) -> PoseAdapter:
    """The adapter of a top-down estimator, chosen by its head."""
    if not isinstance(model, TopdownPoseEstimator):
        raise TypeError(f'{type(model).__name__} is not a top-down pose estimator')
    if isinstance(model.head, HeatmapHead):
        return HeatmapAdapter(model, sigmas, heatmap_kd, config)
    if isinstance(model.head, (RTMCCHead, SimCCHead)):
        return SimCCAdapter(model, sigmas, config)
    raise TypeError(f'{type(model.head).__name__} is not supported: ClassroomKD handles '
                    'heatmap heads and SimCC heads')
