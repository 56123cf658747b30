"""The ClassroomKD objective: L = w_s * L_task + beta * sum_m kd_weight_m * L_kd(m, t_m).

Which mentors teach, their weights and temperatures come from ``ranking.make_plan``; how a
representation is scored, distilled and converted comes from its ``Representation``.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import Tensor

from .ranking import Plan, make_plan, performance
from .representation import (Output, Representation, finite_per_sample, parts,
                             zero_nonfinite)


@dataclass
class ClassroomSettings:
    """The switches of ClassroomKD and its baselines (see ``ClassroomKDLoss``)."""
    strategy: str = 'classroom'
    base_temperature: float = 12.0
    distill_weight: float = 1.0
    knowledge_filtering: bool = True
    mentoring: bool = True
    ranking: str = 'weighted'
    granularity: str = 'batch'
    performance: str = 'geometric'
    temperature: str = 'mentoring'
    drop_rate: float = 0.5
    share_decimals: Optional[int] = None
    dtkd_variant: str = 'paper'
    task_weighting: bool = True


@dataclass
class ClassroomResult:
    loss_task: Tensor
    loss_kd: Tensor
    plan: Optional[Plan]
    nonfinite: Tensor  # [K] bool, the mentor's output had NaN or inf on this batch


def _per_sample(x: Tensor, num_samples: int) -> Tensor:
    """Expand a group axis of size 1 (batch granularity) to the N samples."""
    return x.expand(*x.shape[:-1], num_samples)


@torch.no_grad()
def plan_classroom(rep: Representation, student: Output, mentors: Sequence[Optional[Output]],
                   mentor_reps: Sequence[Representation], targets,
                   settings: ClassroomSettings,
                   all_reduce: Optional[Callable[[Tensor], Tensor]] = None,
                   previous: Optional[Tensor] = None):
    """Score every model, rank the classroom and convert the mentors into the student's
    representation. Nothing here carries a gradient.

    Lazy mentors: with ``previous`` ([1 + K, 1], each model's last performance, from
    ``plan.performance``), a mentor whose output is None did not run on this batch: it is
    ranked on its last performance and cannot teach.

    Returns the plan, the converted mentor outputs (None where a mentor did not run) and the
    [K] non-finite flags.
    """
    log_scores, valid = rep.log_score(student, targets)
    finite, converted, all_scores = [finite_per_sample(student)], [], [log_scores]
    for out, source in zip(mentors, mentor_reps):
        if out is None:  # a placeholder row that ``performance`` leaves out
            finite.append(torch.ones_like(valid))
            all_scores.append(torch.zeros_like(log_scores))
            converted.append(None)
            continue
        finite.append(finite_per_sample(out))
        out = zero_nonfinite(out)
        all_scores.append(source.log_score(out, targets)[0])
        converted.append(rep.convert(out, source, like=student))
    finite = torch.stack(finite)
    log_scores = torch.stack(all_scores)
    ran = None
    if previous is not None:  # fills, not a copy from the host: nothing waits
        ran = torch.stack([valid.new_ones(())] +
                          [valid.new_full((), out is not None) for out in mentors])
    w, usable = performance(log_scores, valid, finite, settings.granularity,
                            settings.performance, all_reduce, ran, previous)
    # DTKD's temperatures and CA-MKD's weights are per sample (as in their papers), also
    # when the ranking is per batch
    sample_sharpness = None
    if settings.temperature == 'dtkd':
        sample_sharpness = torch.stack([
            rep.sharpness(out) if out is not None else torch.zeros_like(log_scores[0])
            for out in (student, *converted)
        ])
    sample_log_scores = torch.where(finite & valid, log_scores, 0.0)
    plan = make_plan(w, usable, settings.strategy, settings.ranking, settings.base_temperature,
                     settings.knowledge_filtering, settings.mentoring, settings.temperature,
                     sample_sharpness, settings.drop_rate, sample_log_scores,
                     settings.share_decimals, settings.dtkd_variant, settings.task_weighting)
    if ran is not None:
        plan.active = plan.active & ran[1:, None]
        plan.kd_weight = torch.where(plan.active, plan.kd_weight, 0.0)
    plan.performance = w
    return plan, converted, ~finite[1:].all(1)


def classroom_objective(rep: Representation, student: Output,
                        mentors: Sequence[Optional[Output]],
                        mentor_reps: Sequence[Representation], targets,
                        task_loss: Callable[[Optional[Tensor]], Tensor],
                        settings: ClassroomSettings,
                        all_reduce: Optional[Callable[[Tensor], Tensor]] = None,
                        previous: Optional[Tensor] = None) -> ClassroomResult:
    """Weighted task loss and ClassroomKD term of one batch.

    Args:
        rep: the student's representation.
        student: the student's output (with gradient).
        mentors: each mentor's output in its own representation (no gradient).
        mentor_reps: each mentor's representation.
        targets: what ``rep.log_score`` and ``rep.kd`` need.
        task_loss: ``task_loss(sample_weight)`` is the student's task loss with each sample's
            term scaled by ``sample_weight`` ([N]; ``None`` scales nothing).
        settings: the strategy and its switches.
        all_reduce: sums a tensor over processes, to rank on the global batch.
        previous: lazy mentors, see ``plan_classroom``: None in ``mentors`` marks a mentor
            that did not run on this batch.
    """
    if not mentors:
        loss = task_loss(None)
        return ClassroomResult(loss, loss.new_zeros(()), None,
                               torch.zeros(0, dtype=torch.bool, device=loss.device))
    plan, converted, nonfinite = plan_classroom(rep, student, mentors, mentor_reps, targets,
                                                settings, all_reduce, previous)
    num_samples = parts(student)[0].shape[0]
    t_student = _per_sample(plan.student_temperature, num_samples)
    t_mentor = _per_sample(plan.temperature, num_samples)
    scale = [None] * len(converted) if plan.kd_scale is None else \
        _per_sample(plan.kd_scale, num_samples)
    kd = torch.stack([
        rep.kd(student, out, t_student[k], t_mentor[k], targets, scale[k])
        if out is not None else t_student.new_zeros(num_samples)  # weight 0: did not run
        for k, out in enumerate(converted)
    ])
    kd_weight = _per_sample(plan.kd_weight, num_samples)
    loss_kd = settings.distill_weight * (kd_weight * kd).sum(0).mean()
    if settings.granularity == 'sample':
        loss_task = task_loss(plan.task_weight)
    else:  # one weight for the batch: the loss exactly as the head computes it, scaled
        loss_task = plan.task_weight[0] * task_loss(None)
    return ClassroomResult(loss_task, loss_kd, plan, nonfinite)


STUDENT_STATS = ('r_s', 'w_s')


def check_mentor_name(name: str) -> None:
    """Refuse a name whose statistics (``r_<name>``, ...) would overwrite the student's."""
    if f'r_{name}' in STUDENT_STATS:
        raise ValueError(f"mentor '{name}': the name is reserved: its rank would be logged as "
                         f"r_{name}, the student's")


def summarize(result: ClassroomResult, mentor_names: Sequence[str]) -> Dict[str, Tensor]:
    """Batch means of the plan for logging: r_s and the task weight w_s, and per mentor r, its
    temperature t and the student's in its term ts, active fraction and whether it was
    excluded for non-finite outputs. Device tensors, no synchronisation."""
    plan = result.plan
    if plan is None:
        return {}
    stats = {'r_s': plan.ranks[0].mean(), 'w_s': plan.task_weight.mean()}
    for k, name in enumerate(mentor_names):
        stats[f'r_{name}'] = plan.ranks[k + 1].mean()
        stats[f't_{name}'] = plan.temperature[k].mean()
        stats[f'ts_{name}'] = plan.student_temperature[k].mean()
        stats[f'active_{name}'] = plan.active[k].float().mean()
        stats[f'nonfinite_{name}'] = result.nonfinite[k].float()
    return stats
