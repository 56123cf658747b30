"""Who teaches, how hot and how much: the ranking of ClassroomKD and of the baselines.

A classroom is the student (index 0) and K mentors (indices 1..K). Every tensor here has a
group axis G: G = 1 when the classroom is ranked once per batch (``granularity='batch'``, as
the paper's code) and G = N when every sample ranks it on its own (``granularity='sample'``).

Pure PyTorch on device tensors: no ``.item()``, no Python branch on a tensor value, so a
training step never waits for the device. Strings choose code paths once per call; they never
depend on data.
"""
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

STRATEGIES = ('classroom', 'nokd', 'kd', 'aver', 'dgkd', 'camkd')
TEMPERATURES = ('mentoring', 'dtkd')
# 'paper': DTKD's equations; 'authors_code': as ClassroomKD's released code runs them
DTKD_VARIANTS = ('paper', 'authors_code')
_TINY = 1e-12


@dataclass
class Plan:
    """What every model does on one batch.

    Attributes:
        ranks: [1 + K, G] rank scores r, student first.
        task_weight: [G] weight of the student's task loss.
        kd_weight: [K, G] weight of each mentor's KD term, 0 where the mentor does not teach
            ([K, N] for CA-MKD, whose weights are per sample whatever the granularity).
        temperature: [K, G] temperature of each mentor's distribution ([K, N] for DTKD,
            whose temperatures are per sample whatever the granularity).
        student_temperature: temperature of the student's distribution in that term, shaped
            as ``temperature`` (equal to it except for DTKD).
        active: whether each mentor teaches, shaped as ``kd_weight``.
        performance: [1 + K, G] the performances w the ranks come from (``plan_classroom``
            sets it).
        kd_scale: [K, 1] factor of each mentor's KL term in place of every sample's own
            ``student_temperature * temperature``; None (all but the authors' DTKD) keeps
            that product.
    """
    ranks: Tensor
    task_weight: Tensor
    kd_weight: Tensor
    temperature: Tensor
    student_temperature: Tensor
    active: Tensor
    performance: Optional[Tensor] = None
    kd_scale: Optional[Tensor] = None


def performance(log_scores: Tensor, valid: Tensor, finite: Tensor, granularity: str = 'batch',
                mode: str = 'geometric',
                all_reduce: Optional[Callable[[Tensor], Tensor]] = None,
                ran: Optional[Tensor] = None,
                previous: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Each model's performance w and whether it may take part in the ranking.

    Args:
        log_scores: [C, N] log of each model's score on each sample (classification: the log
            probability of the true class, so the batch 'geometric' mean is exp(-CE)).
        valid: [N] samples that can be scored (pose: at least one visible keypoint).
        finite: [C, N] whether each model's output on each sample is finite.
        granularity: 'batch' (one ranking per batch) or 'sample' (one per sample).
        mode: 'geometric' (exp of the mean log score) or 'arithmetic' (mean score); only
            matters for batch granularity.
        all_reduce: optional sum over processes of a 1-D tensor, applied to the batch
            statistics so that every process ranks on the global batch.
        ran: lazy mentors (batch granularity): [C] bool, the models that ran on this batch;
            the rows of the others hold zeros. A model is scored on the samples of the
            processes that ran it.
        previous: with ``ran``, [C, 1] the performance to give a model that no process ran
            (its last measured one; usable when above 0).

    Returns:
        w: [C, G] performance, 0 where the model cannot take part.
        usable: [C, G] bool, the model's outputs are finite and the group has a valid sample.
    """
    ok = finite & valid
    log_scores = torch.where(ok, log_scores, torch.zeros_like(log_scores))
    if granularity == 'sample':
        if ran is not None:
            raise ValueError("lazy mentors need granularity='batch'")
        return torch.where(ok, log_scores.exp(), torch.zeros_like(log_scores)), ok
    values = log_scores if mode == 'geometric' else torch.where(ok, log_scores.exp(), 0.0)
    num_valid = valid.sum().to(values.dtype).reshape(1)
    if ran is not None:  # [C]: how many samples scored each model
        num_valid = num_valid * ran
    num_bad = (valid & ~finite).sum(1).to(values.dtype)
    stats = torch.cat([values.sum(1), num_bad, num_valid])
    if all_reduce is not None:
        stats = all_reduce(stats)
    num_models = log_scores.shape[0]
    count = stats[2 * num_models:]
    # A model with any non-finite output sits the whole batch out; its sum then lacks those
    # samples, so it is not used.
    mean = stats[:num_models] / count.clamp_min(1.0)
    w = mean.exp() if mode == 'geometric' else mean
    usable = (stats[num_models:2 * num_models] == 0) & (count > 0)
    w = torch.where(usable, w, 0.0)
    if ran is not None:
        kept = ~ran & (count == 0)
        w = torch.where(kept, previous[:, 0], w)
        usable = torch.where(kept, previous[:, 0] > 0, usable)
    return w[:, None], usable[:, None]


def rank_scores(w: Tensor, usable: Tensor, ranking: str = 'weighted',
                share_decimals: Optional[int] = None) -> Tensor:
    """Rank scores r [C, G] from performances w [C, G].

    'weighted': r_c = K * w_c / sum_c' w_c' over the usable models; with ``share_decimals``
    the share w_c / sum w is first rounded to that many decimals, as the authors' code does
    with 2 (round half to even).
    'uniform' (the paper's Method B): models sorted by ascending w get 0.1, 0.2, 0.3, ...
    Ties keep the classroom order (student first), so a mentor tied with the student ranks
    above it.
    """
    num_mentors = w.shape[0] - 1
    w = torch.where(usable, w, 0.0)
    if ranking == 'weighted':
        share = w / w.sum(0, keepdim=True).clamp_min(_TINY)
        if share_decimals is not None:
            share = torch.round(share, decimals=share_decimals)
        return num_mentors * share
    index = torch.arange(w.shape[0], device=w.device)[:, None, None]
    # below[c, c', g]: model c' ranks below model c
    below = (w[None] < w[:, None]) | ((w[None] == w[:, None]) & (index.transpose(0, 1) < index))
    position = (below & usable[None]).sum(1) + 1
    return torch.where(usable, 0.1 * position, 0.0)


def classroom_plan(r: Tensor, w: Tensor, usable: Tensor, base_temperature: float,
                   knowledge_filtering: bool = True, mentoring: bool = True,
                   task_weighting: bool = True) -> Plan:
    """ClassroomKD: Knowledge Filtering chooses the mentors, Mentoring sets their temperature.

    With Knowledge Filtering, mentor m teaches iff r_m >= r_s, with weight r_m, and the task
    loss is weighted by the student's performance w_s (1 without ``task_weighting``); without
    it every mentor teaches with weight 1 and the task weight is 1. With Mentoring,
    t_m = 1 + T0 * |r_m - r_s| / max(r_m, r_s); without it t_m = T0.
    """
    r_s, r_m = r[:1], r[1:]
    can_teach = usable[1:] & usable[:1]
    active = can_teach & (r_m >= r_s) if knowledge_filtering else can_teach
    if mentoring:
        gap = (r_m - r_s).abs() / torch.maximum(r_m, r_s).clamp_min(_TINY)
        temperature = 1.0 + base_temperature * gap
    else:
        temperature = torch.full_like(r_m, base_temperature)
    teach_weight = r_m if knowledge_filtering else torch.ones_like(r_m)
    task_weight = w[0] if knowledge_filtering and task_weighting else torch.ones_like(w[0])
    return Plan(r, task_weight, torch.where(active, teach_weight, 0.0), temperature,
                temperature, active)


def _fixed(r: Tensor, usable: Tensor, base_temperature: float, kd_weight: Tensor) -> Plan:
    """A plan with task weight 1, temperature T0 and the given mentor weights."""
    temperature = torch.full_like(kd_weight, base_temperature)
    active = (kd_weight > 0) & usable[1:] & usable[:1]
    return Plan(r, torch.ones_like(r[0]), torch.where(active, kd_weight, 0.0), temperature,
                temperature, active)


def nokd_plan(r: Tensor, usable: Tensor, base_temperature: float) -> Plan:
    """The student alone: no mentor teaches."""
    return _fixed(r, usable, base_temperature, torch.zeros_like(r[1:]))


def kd_plan(r: Tensor, usable: Tensor, base_temperature: float) -> Plan:
    """Hinton et al. 2015: the first mentor (the teacher) alone, at T0."""
    weight = torch.zeros_like(r[1:])
    weight[0] = 1.0
    return _fixed(r, usable, base_temperature, weight)


def _mean_over(teach: Tensor, dtype: torch.dtype) -> Tensor:
    """Weights that average the KD terms of the mentors in ``teach`` ([K, G] bool), per group."""
    teach = teach.to(dtype)
    return teach / teach.sum(0, keepdim=True).clamp_min(1.0)


def aver_plan(r: Tensor, usable: Tensor, base_temperature: float) -> Plan:
    """AVER: the mean of the KD terms at T0, over the mentors that can teach (weight 1/K when
    none sat out)."""
    return _fixed(r, usable, base_temperature, _mean_over(usable[1:] & usable[:1], r.dtype))


def dgkd_plan(r: Tensor, usable: Tensor, base_temperature: float,
              drop_rate: float = 0.5) -> Plan:
    """DGKD (Son et al. 2021): each iteration drops every mentor with probability
    ``drop_rate`` and averages the KD terms of the others at T0. At least one mentor that can
    teach stays: when all of them are dropped, one of them, chosen uniformly, is kept."""
    num_mentors = r.shape[0] - 1
    can_teach = usable[1:] & usable[:1]
    keep = (torch.rand(num_mentors, 1, device=r.device) >= drop_rate) & can_teach
    # the rescued mentor: the one that can teach with the highest random priority
    priority = torch.where(can_teach, torch.rand(num_mentors, 1, device=r.device), -1.0)
    index = torch.arange(num_mentors, device=r.device)[:, None]
    rescue = (index == priority.argmax(0, keepdim=True)) & can_teach
    keep = keep | (~keep.any(0, keepdim=True) & rescue)
    return _fixed(r, usable, base_temperature, _mean_over(keep, r.dtype))


def camkd_plan(r: Tensor, usable: Tensor, log_scores: Tensor, base_temperature: float) -> Plan:
    """CA-MKD (Zhang et al. 2022): on every sample, mentor k weighs
    (1 - softmax_k(CE_k)) / (K' - 1), where CE_k = -log score is its cross-entropy against the
    label (pose: -log OKS) and the softmax runs over the K' mentors that can teach (K unless
    one sat out); at T0. Per sample whatever the granularity, as in the paper.

    Args:
        log_scores: [1 + K, N] per-sample log scores, student first; 0 where a sample cannot
            be scored.
    """
    can_teach = usable[1:] & usable[:1]
    count = can_teach.sum(0, keepdim=True).to(log_scores.dtype)  # K' mentors that can teach
    ce = -log_scores[1:]
    # a mentor that sat out takes no share of the softmax, and K' replaces K
    ce = torch.where(can_teach, ce, torch.finfo(ce.dtype).min)
    weight = (1.0 - torch.softmax(ce, 0)) / (count - 1).clamp_min(1.0)
    # the formula gives a lone mentor weight 0: CA-MKD is then plain KD
    return _fixed(r, usable, base_temperature, torch.where(count > 1, weight, 1.0))


def dtkd_temperatures(plan: Plan, sharpness: Tensor, base_temperature: float,
                      variant: str = 'paper') -> Plan:
    """Replace Mentoring by DTKD's temperatures, per sample, with x the max logit of a sample.

    'paper' (Wei & Bai 2024): T_mentor = 2 x_m / (x_m + x_s) * T0 and
    T_student = 2 x_s / (x_m + x_s) * T0; each sample's KL is scaled by its own
    T_student * T_mentor (``kl_at_temperature``).

    'authors_code', as ClassroomKD's released code (``--dtkd_mentor``) runs it: the two scales
    exchanged, T_mentor = 2 x_s / (x_m + x_s) * T0 and T_student = 2 x_m / (x_m + x_s) * T0,
    and every sample's KL scaled by the batch mean of T_student * T_mentor
    (``Plan.kd_scale``); the weights r_m then apply as in 'paper'.

    The formula assumes positive max logits; on a sample where x_m or x_s is not positive it
    would give a negative or infinite temperature, so that sample keeps T0 for both in both
    variants (the authors' code has no such guard), and enters the batch mean of
    'authors_code' with T0 * T0.

    Args:
        sharpness: [1 + K, N] x of every model on every sample, student first.
        variant: 'paper' or 'authors_code'.
    """
    x_s, x_m = sharpness[:1], sharpness[1:]
    defined = (x_s > 0) & (x_m > 0)
    total = torch.where(defined, x_m + x_s, 1.0)
    scale_m, scale_s = (x_s, x_m) if variant == 'authors_code' else (x_m, x_s)
    plan.temperature = torch.where(defined, 2.0 * scale_m / total * base_temperature,
                                   base_temperature)
    plan.student_temperature = torch.where(defined, 2.0 * scale_s / total * base_temperature,
                                           base_temperature)
    if variant == 'authors_code':
        plan.kd_scale = (plan.student_temperature * plan.temperature).mean(-1, keepdim=True)
    return plan


def make_plan(w: Tensor, usable: Tensor, strategy: str = 'classroom', ranking: str = 'weighted',
              base_temperature: float = 12.0, knowledge_filtering: bool = True,
              mentoring: bool = True, temperature: str = 'mentoring',
              sharpness: Optional[Tensor] = None, drop_rate: float = 0.5,
              log_scores: Optional[Tensor] = None,
              share_decimals: Optional[int] = None, dtkd_variant: str = 'paper',
              task_weighting: bool = True) -> Plan:
    """Rank the classroom from performances w [C, G] and plan the batch for ``strategy``.

    ``sharpness`` ([C, N], DTKD's max logits) is needed for ``temperature='dtkd'`` (computed
    as ``dtkd_variant`` says, see ``dtkd_temperatures``) and
    ``log_scores`` ([C, N], 0 where a sample cannot be scored) for CA-MKD;
    ``share_decimals`` rounds the weighted ranking's shares (``rank_scores``).
    """
    r = rank_scores(w, usable, ranking, share_decimals)
    if strategy == 'classroom':
        plan = classroom_plan(r, w, usable, base_temperature, knowledge_filtering, mentoring,
                              task_weighting)
        if temperature == 'dtkd':
            plan = dtkd_temperatures(plan, sharpness, base_temperature, dtkd_variant)
        return plan
    if strategy == 'camkd':
        return camkd_plan(r, usable, log_scores, base_temperature)
    if strategy == 'dgkd':
        return dgkd_plan(r, usable, base_temperature, drop_rate)
    simple = dict(nokd=nokd_plan, kd=kd_plan, aver=aver_plan)
    plan = simple[strategy](r, usable, base_temperature)
    if temperature == 'dtkd':  # 'kd' (the loss refuses the others): DTKD's own setting
        plan = dtkd_temperatures(plan, sharpness, base_temperature, dtkd_variant)
    return plan
