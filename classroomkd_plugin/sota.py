"""ClassroomKD as the KD loss of image_classification_sota
(github.com/hunto/image_classification_sota).

That code base's train loop, with KD on, calls ``loss = loss_fn(input, target)`` and
backpropagates the result: its KD wrapper receives the batch's images (not logits) and labels,
runs the teacher under ``no_grad`` and the student (the DDP-wrapped model) itself, and
returns the total loss. ``ClassroomKDWrapper`` has that call shape, with K mentors instead of
one teacher; the validation loop keeps the plain criterion.

In its ``tools/train.py``, in place of ``loss_fn = KDLoss(model, teacher_model, loss_fn, ...)``::

    from classroomkd_plugin.sota import ClassroomKDWrapper
    loss_fn = ClassroomKDWrapper(model, {'resnet34': teacher_a, 'regnety_016': teacher_b},
                                 ori_loss=loss_fn, base_temperature=4.0)
"""
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from classroomkd_plugin.core import check_mentor_name
from classroomkd_plugin.models.losses import ClassroomKDLoss

Mentors = Union[Sequence[nn.Module], Mapping[str, nn.Module]]


class ClassroomKDWrapper:
    """``loss_fn(inputs, targets)``: the student's ClassroomKD loss over frozen mentors.

    Args:
        student (nn.Module): the student (may be DDP-wrapped); ``student(inputs)`` gives
            logits [N, C]. It runs with gradient, in whatever mode the train loop set.
        mentors (list | dict): plain PyTorch classifiers (timm, torchvision) on the same
            inputs and classes, the teacher first; a dict names them in ``stats``. They are
            put in eval mode without gradients here and run under ``no_grad``.
        ori_loss (callable, optional): the code base's criterion, ``ori_loss(logits,
            targets)`` -> scalar (cross-entropy, label smoothing, SoftTargetCrossEntropy),
            scaled by the student's performance w_s as ClassroomKD's task loss. Defaults to
            cross-entropy on class indices or soft targets (mixup, cutmix).
        **loss_options: options of :class:`ClassroomKDLoss` (``base_temperature``,
            ``distill_weight``, ``strategy``, ``sync_ranking``, ...); ``task`` is 'cls'.

    After each call, ``stats`` holds the batch's ``loss_task``, ``loss_kd``, the ranks
    ``r_*``, temperatures ``t_*`` and ``active_*`` flags, detached (reading them syncs).
    """

    def __init__(self, student: nn.Module, mentors: Mentors,
                 ori_loss: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
                 **loss_options):
        self.loss = ClassroomKDLoss(task='cls', **loss_options)
        if not mentors and self.loss.settings.strategy != 'nokd':
            raise ValueError('ClassroomKDWrapper: no mentors; give at least one')
        if ori_loss is not None and self.loss.settings.granularity == 'sample':
            raise ValueError("ClassroomKDWrapper: granularity='sample' weighs each sample's "
                             'task loss, which a scalar ori_loss cannot; leave ori_loss None '
                             '(per-sample cross-entropy)')
        if isinstance(mentors, Mapping):
            self.names, mentors = list(mentors), list(mentors.values())
        else:
            self.names = [f'mentor{i + 1}' for i in range(len(mentors))]
        for name in self.names:
            check_mentor_name(name)
        self.student = student
        self.mentors = [mentor.eval().requires_grad_(False) for mentor in mentors]
        self.ori_loss = ori_loss
        self.stats: Dict[str, Tensor] = {}

    def __call__(self, inputs: Tensor, targets: Tensor) -> Tensor:
        with torch.no_grad():
            mentor_logits = [mentor(inputs) for mentor in self.mentors]
        logits = self.student(inputs)
        if not isinstance(logits, Tensor):
            raise TypeError(f'ClassroomKDWrapper: the student returned {type(logits).__name__}, '
                            'not a logits tensor')
        task_loss = None
        if self.ori_loss is not None:
            # batch granularity: the objective calls this with None and scales it by w_s
            def task_loss(sample_weight: Optional[Tensor]) -> Tensor:
                return self.ori_loss(logits, targets)

        result = self.loss(logits, mentor_logits, targets, task_loss,
                           mentor_names=self.names)
        self.stats = {key: value.detach() for key, value in result.items()}
        return result['loss_task'] + result['loss_kd']
