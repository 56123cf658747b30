from abc import ABC, abstractmethod
from typing import Any, Dict, Optional, Sequence

from torch import Tensor, nn

from classroomkd_plugin.core import Representation
from classroomkd_plugin.core.representation import Output


class TaskAdapter(ABC):
    """How the distiller drives one kind of OpenMMLab model.

    It gets the model's raw outputs, the batch targets and the task loss of the model's own
    head, and names the ``Representation`` that scores and distills those outputs.

    Args:
        model: the model (student or mentor).
    """

    rep: Representation

    def __init__(self, model: nn.Module):
        self.model = model

    @abstractmethod
    def outputs(self, inputs: Tensor) -> Output:
        """Raw head outputs for a batch of preprocessed inputs."""

    @abstractmethod
    def targets(self, data_samples: Sequence) -> Any:
        """What the representation needs from the batch's data samples."""

    @abstractmethod
    def task_loss(self, out: Output, data_samples: Sequence,
                  sample_weight: Optional[Tensor] = None) -> Tensor:
        """The head's own loss, each sample's term scaled by ``sample_weight`` ([N])."""

    @abstractmethod
    def signature(self) -> Dict[str, Any]:
        """What must match between the student and a mentor (classes, keypoints, input
        size); an unknown value is left out."""
