from typing import Any, Dict, Optional, Sequence

import torch
from mmpretrain.models import ImageClassifier, TimmClassifier
from torch import Tensor, nn

from classroomkd_plugin.core import ClsLogits
from .base import TaskAdapter


class ClsAdapter(TaskAdapter):
    """MMPretrain ``ImageClassifier`` and ``TimmClassifier``: logits and the head's loss."""

    rep = ClsLogits()

    @staticmethod
    def accepts(model: nn.Module) -> bool:
        return isinstance(model, (ImageClassifier, TimmClassifier))

    @property
    def loss_module(self) -> nn.Module:
        model = self.model
        return model.loss_module if isinstance(model, TimmClassifier) else model.head.loss_module

    def outputs(self, inputs: Tensor) -> Tensor:
        return self.model(inputs, mode='tensor')

    def targets(self, data_samples: Sequence) -> Tensor:
        # batch augmentations (mixup, cutmix) turn labels into scores, as in ClsHead
        if 'gt_score' in data_samples[0]:
            return torch.stack([s.gt_score for s in data_samples])
        return torch.cat([s.gt_label for s in data_samples])

    def task_loss(self, out: Tensor, data_samples: Sequence,
                  sample_weight: Optional[Tensor] = None) -> Tensor:
        return self.loss_module(out, self.targets(data_samples), weight=sample_weight,
                                avg_factor=out.size(0))

    def signature(self) -> Dict[str, Any]:
        model = self.model
        owner = model.model if isinstance(model, TimmClassifier) else model.head
        num_classes = getattr(owner, 'num_classes', None)
        return {} if num_classes is None else {'number of classes': num_classes}
