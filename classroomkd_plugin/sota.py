"""ClassroomKD as the KD loss of image_classification_sota
(github.com/hunto/image_classification_sota).

That code base's train loop, with KD on, calls ``loss = loss_fn(input, target)`` and
backpropagates the result: its KD wrapper receives the batch's images (not logits) and labels,
runs the teacher under ``no_grad`` and the student (the DDP-wrapped model) itself, and
returns the total loss. ``ClassroomKDWrapper`` has that call shape, with K mentors instead of
one teacher; the validation loop keeps the plain criterion.

Its ``tools/train.py`` runs a classroom with a few added lines (docs/sota.md lists them):
``add_classroom_arguments(parser)`` before it parses its arguments, and, for ``--kd classroom``,
``loss_fn = build_classroom_loss(args, model, build_model, loss_fn)`` in place of its KD loss.
"""
import argparse
import inspect
import logging
from typing import Callable, Dict, Mapping, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from classroomkd_plugin.checkpoint import load_mentor_checkpoint
from classroomkd_plugin.core import check_mentor_name
from classroomkd_plugin.models.losses import ClassroomKDLoss
from classroomkd_plugin.models.losses.classroomkd_loss import CHOICES

Mentors = Union[Sequence[nn.Module], Mapping[str, nn.Module]]
logger = logging.getLogger(__name__)

# ClassroomKDLoss options settable from that command line, with their defaults: all but the
# output representation (logits here), the pose-only heatmap_kd, and distill_weight, which is
# its --kd-loss-weight.
OPTIONS = {
    name: parameter.default
    for name, parameter in inspect.signature(ClassroomKDLoss).parameters.items()
    if name not in ('task', 'heatmap_kd', 'distill_weight')
}
# model-name prefixes for which its build_model can load pretrained (ImageNet) weights
PRETRAINED_PREFIXES = ('tv_', 'timm_')


def add_classroom_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the classroom's arguments to image_classification_sota's parser.

    The teacher stays ``--teacher-model`` / ``--teacher-ckpt``; ``--peer-models`` and
    ``--peer-ckpts`` name the other mentors; ``--classroom-<option>`` sets an option of
    :class:`ClassroomKDLoss` (as ``--kd-loss-kwargs <option>=<value>`` does).
    """
    group = parser.add_argument_group('ClassroomKD (--kd classroom)')
    group.add_argument('--peer-models', nargs='+', default=[], metavar='MODEL',
                       help='the mentors besides --teacher-model, named as for --model')
    group.add_argument('--peer-ckpts', nargs='+', default=[], metavar='CKPT',
                       help='their checkpoints, one per peer in the same order')
    for name, default in OPTIONS.items():
        flag = '--classroom-' + name.replace('_', '-')
        text = f'ClassroomKDLoss {name} (default: {default})'
        if isinstance(default, bool):
            group.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        elif isinstance(default, str):
            group.add_argument(flag, choices=CHOICES[name], help=text)
        else:
            group.add_argument(flag, type=float, metavar='VALUE', help=text)


def _option_value(name: str, value):
    """A --kd-loss-kwargs value (a string on the command line, typed in a YAML config)."""
    default = OPTIONS[name]
    if isinstance(default, bool):
        text = str(value).lower()
        if text in ('true', '1', 'yes'):
            return True
        if text in ('false', '0', 'no'):
            return False
        raise ValueError(f'--kd-loss-kwargs {name}={value}: expected true or false')
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f'--kd-loss-kwargs {name}={value}: expected a number') from None
    return str(value)


def classroom_options(args: argparse.Namespace) -> dict:
    """ClassroomKDLoss options from that code base's KD arguments and ours.

    ``--kd-loss-weight`` is ``distill_weight`` (beta); ``--kd-loss-kwargs`` and
    ``--classroom-<option>`` give the other options. ``--ori-loss-weight`` must stay 1:
    ClassroomKD weighs the task loss by the student's performance on the batch.
    """
    if args.ori_loss_weight != 1:
        raise ValueError(
            f'--ori-loss-weight {args.ori_loss_weight}: ClassroomKD weighs the task loss by the '
            "student's performance w_s on each batch, not by a fixed weight; leave it at 1 and "
            'weigh the distillation with --kd-loss-weight')
    kwargs = dict(getattr(args, 'kd_loss_kwargs', None) or {})  # older versions lack it
    if 'distill_weight' in kwargs:
        raise ValueError('--kd-loss-kwargs distill_weight: give the distillation weight as '
                         '--kd-loss-weight')
    unknown = sorted(set(kwargs) - set(OPTIONS))
    if unknown:
        raise ValueError(f'--kd-loss-kwargs: {", ".join(unknown)} are not ClassroomKDLoss '
                         f'options; known: {", ".join(OPTIONS)}')
    options = {name: _option_value(name, value) for name, value in kwargs.items()}
    for name in OPTIONS:
        value = getattr(args, f'classroom_{name}', None)
        if value is None:
            continue
        if name in options:
            raise ValueError(f'{name} is given twice: --classroom-{name.replace("_", "-")} and '
                             '--kd-loss-kwargs; keep one')
        options[name] = value
    return dict(options, distill_weight=float(args.kd_loss_weight))


def build_mentors(args: argparse.Namespace, build_model: Callable,
                  device: torch.device) -> Dict[str, nn.Module]:
    """The teacher (``--teacher-model``) and the peers (``--peer-models``), by name.

    Each is built with that code base's ``build_model(args, name, pretrained)`` and loads its
    checkpoint strictly; one without a checkpoint must be a ``tv_``/``timm_`` model with
    ``--teacher-pretrained`` (its pretrained weights). Every mentor must give
    ``args.num_classes`` logits on an input of ``args.input_shape`` (both set by its
    ``build_dataloader``).
    """
    if not args.teacher_model:
        raise ValueError('--kd classroom: give the teacher with --teacher-model (and '
                         '--teacher-ckpt) and the other mentors with --peer-models')
    peers, peer_ckpts = list(args.peer_models or []), list(args.peer_ckpts or [])
    if peer_ckpts and len(peer_ckpts) != len(peers):
        raise ValueError(f'--peer-ckpts gives {len(peer_ckpts)} checkpoints for {len(peers)} '
                         '--peer-models; give one per peer, in the same order')
    names = [args.teacher_model, *peers]
    checkpoints = [args.teacher_ckpt, *(peer_ckpts or [''] * len(peers))]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f'--teacher-model/--peer-models: {", ".join(repeated)} given twice; '
                         'each mentor is named by its model')
    for name in names:  # before building any: the wrapper checks them once all are built
        check_mentor_name(name)
    mentors = {}
    for name, checkpoint in zip(names, checkpoints):
        if not checkpoint and not (args.teacher_pretrained
                                   and name.startswith(PRETRAINED_PREFIXES)):
            flag = '--teacher-ckpt' if name == args.teacher_model else '--peer-ckpts'
            raise ValueError(f"mentor '{name}' has no checkpoint: give one with {flag} (only "
                             'tv_ and timm_ models can take pretrained weights instead)')
        mentor = build_model(args, name, not checkpoint)
        if checkpoint:
            load_mentor_checkpoint(mentor, checkpoint, name)
        mentor = mentor.to(device).eval()
        with torch.no_grad():
            out = mentor(torch.zeros(1, *args.input_shape, device=device))
        if not isinstance(out, Tensor) or out.shape != (1, args.num_classes):
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"mentor '{name}' gives {shape} on one input, not the "
                             f'{args.num_classes} class logits of the student')
        params = sum(p.numel() for p in mentor.parameters()) / 1e6
        logger.info(f"Mentor '{name}': {params:.3f} M params, "
                    f"{checkpoint or 'pretrained weights'}")
        mentors[name] = mentor
    return mentors


def build_classroom_loss(args: argparse.Namespace, student: nn.Module, build_model: Callable,
                         criterion: Callable[[Tensor, Tensor], Tensor]) -> 'ClassroomKDWrapper':
    """The ``loss_fn`` of a classroom, from that code base's parsed arguments.

    Args:
        args: its arguments with ours (``add_classroom_arguments``), after its
            ``build_dataloader`` set ``num_classes`` and ``input_shape``.
        student: its model (on its device; DDP-wrapped or not: the train loop reassigns
            ``loss_fn.student`` after wrapping).
        build_model: its ``lib.models.builder.build_model``.
        criterion: its training criterion (cross-entropy, label smoothing or, with mixup or
            cutmix, soft-target cross-entropy), ClassroomKD's task loss.
    """
    if args.auxiliary:
        raise ValueError('--auxiliary: its train loop would call the classroom loss on the '
                         'auxiliary logits; train a classroom without the auxiliary tower')
    options = classroom_options(args)
    if options.get('granularity') == 'sample':
        # each sample's task term is weighted on its own: the per-sample cross-entropy on the
        # loader's targets, which is its criterion unless that smooths hard labels itself
        mixup = args.mixup > 0 or args.cutmix > 0 or args.cutmix_minmax is not None
        if args.smoothing > 0 and not mixup:
            raise ValueError('granularity sample: its label-smoothing criterion gives one batch '
                             'mean, not per-sample terms; use --smoothing 0 or mixup/cutmix')
        criterion = None
    mentors = build_mentors(args, build_model, next(student.parameters()).device)
    return ClassroomKDWrapper(student, mentors, ori_loss=criterion, **options)


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
