from typing import Callable, Dict, Optional, Sequence

import torch.distributed as dist
from mmengine.registry import MODELS
from torch import Tensor, nn

from classroomkd_plugin.core import (DTKD_VARIANTS, STRATEGIES, TEMPERATURES,
                                     ClassroomSettings, ClsLogits, Representation,
                                     classroom_objective, summarize)
from classroomkd_plugin.core.pose import HeatmapRep, SimCCRep
from classroomkd_plugin.core.representation import parts

TASKS = {'cls': ClsLogits, 'heatmap': HeatmapRep, 'simcc': SimCCRep}
CHOICES = dict(
    strategy=STRATEGIES,
    ranking=('weighted', 'uniform'),
    granularity=('batch', 'sample'),
    performance=('geometric', 'arithmetic'),
    temperature=TEMPERATURES,
    dtkd_variant=DTKD_VARIANTS,
    heatmap_kd=('mse', 'kl'))


def _all_reduce_sum(x: Tensor) -> Tensor:
    x = x.clone()
    dist.all_reduce(x)
    return x


@MODELS.register_module()
class ClassroomKDLoss(nn.Module):
    """ClassroomKD loss: Knowledge Filtering and Mentoring over a classroom of mentors.

    `Classroom-Inspired Multi-Mentor Distillation with Adaptive Learning Strategies
    <https://arxiv.org/abs/2409.20237>`_ (Sarode et al.).

    L = w_s * L_task + distill_weight * sum over active mentors m of r_m * L_kd(m, t_m); see the
    README for the equations and ``classroomkd_plugin.core.ranking`` for the code.

    Args:
        task (str | None): the student's output representation: 'cls' (logits), 'heatmap' or
            'simcc' (pose). ``None`` lets ``ClassroomDistiller`` take it from the student's head.
        strategy (str): 'classroom' (ClassroomKD) or a baseline: 'nokd', 'kd', 'aver', 'dgkd',
            'camkd'. Defaults to 'classroom'.
        base_temperature (float): T0. Mentoring sets t_m = 1 + T0 * gap; the baselines use T0.
            Defaults to 12.0 (the paper's CIFAR value).
        distill_weight (float): beta, the weight of the distillation term. Defaults to 1.0.
        knowledge_filtering (bool): only mentors ranked at or above the student teach, weighted
            by their rank, and the task loss is weighted by w_s. Defaults to True.
        task_weighting (bool): with Knowledge Filtering, weight the task loss by w_s;
            ``False`` holds it at 1, as DTKD's own paper trains (strategy 'classroom' only).
            Defaults to True.
        mentoring (bool): rank-gap temperatures; ``False`` uses T0. Defaults to True.
        ranking (str): 'weighted' (r = K w / sum w) or 'uniform' (the paper's Method B).
        granularity (str): 'batch' (one ranking per batch) or 'sample' (one per sample).
        performance (str): batch performance as the 'geometric' (exp(-CE)) or 'arithmetic'
            mean of the per-sample scores (the probability of the true class; with soft
            labels, mixup or cutmix, sum_c y_c p_c, so 'geometric' is exp(mean log sum_c y_c
            p_c)). Batch granularity only: with 'sample' each sample's score is its
            performance, and 'arithmetic' is refused.
        temperature (str): 'mentoring' or 'dtkd' (DTKD's dynamic temperatures instead of
            Mentoring, with Knowledge Filtering kept; with strategy 'kd', instead of T0, as
            DTKD's own paper trains). Refused for the other baselines.
        dtkd_variant (str, optional): with ``temperature='dtkd'``, 'paper' (DTKD's
            equations: each model's temperature follows its own max logit, each sample's KL
            scaled by its own T_s * T_m) or 'authors_code' (as ClassroomKD's released code
            runs it: the temperatures exchanged, the KL scaled by the batch mean of T_s * T_m).
            Defaults to None: 'paper'. Refused with another ``temperature``.
        drop_rate (float): probability that DGKD drops a mentor in an iteration.
        heatmap_kd (str): heatmap students: 'kl' (the KD term on the spatial softmax at
            t_m) or 'mse' (no temperature: Mentoring then has no effect). Defaults to
            'kl'.
        sync_ranking (bool): all-reduce the batch performance statistics over processes, so
            that every process ranks the classroom on the global batch. Defaults to False.
        share_decimals (int, optional): round each share w_c / sum w to this many decimals
            before multiplying by K ('weighted' ranking). 2 reproduces the authors' code,
            which does so; ``None`` (default) keeps the paper's exact r.
    """

    def __init__(self,
                 task: Optional[str] = 'cls',
                 strategy: str = 'classroom',
                 base_temperature: float = 12.0,
                 distill_weight: float = 1.0,
                 knowledge_filtering: bool = True,
                 mentoring: bool = True,
                 ranking: str = 'weighted',
                 granularity: str = 'batch',
                 performance: str = 'geometric',
                 temperature: str = 'mentoring',
                 drop_rate: float = 0.5,
                 heatmap_kd: str = 'kl',
                 sync_ranking: bool = False,
                 share_decimals: Optional[int] = None,
                 dtkd_variant: Optional[str] = None,
                 task_weighting: bool = True):
        super().__init__()
        if dtkd_variant is not None and temperature != 'dtkd':
            raise ValueError(f"ClassroomKDLoss: dtkd_variant={dtkd_variant!r} chooses how "
                             "DTKD's temperatures are computed: it needs temperature='dtkd', "
                             f'got temperature={temperature!r}')
        dtkd_variant = dtkd_variant or 'paper'
        given = dict(task=task, strategy=strategy, ranking=ranking, granularity=granularity,
                     performance=performance, temperature=temperature,
                     dtkd_variant=dtkd_variant, heatmap_kd=heatmap_kd)
        for arg, value in given.items():
            choices = TASKS if arg == 'task' else CHOICES[arg]
            if value not in choices and not (arg == 'task' and value is None):
                raise ValueError(f'ClassroomKDLoss: {arg}={value!r} is not one of '
                                 f'{sorted(choices)}')
        if performance == 'arithmetic' and granularity == 'sample':
            raise ValueError("ClassroomKDLoss: performance='arithmetic' averages the scores of "
                             "a batch; with granularity='sample' every sample ranks on its own "
                             "score: leave performance='geometric'")
        if temperature == 'dtkd' and strategy not in ('classroom', 'kd'):
            raise ValueError(f"ClassroomKDLoss: temperature='dtkd' sets the temperatures of "
                             f"ClassroomKD ('classroom') or of KD from the teacher ('kd', "
                             f"DTKD's own setting); strategy={strategy!r} keeps T0")
        if not task_weighting and strategy != 'classroom':
            raise ValueError(f'ClassroomKDLoss: task_weighting=False applies to ClassroomKD\'s '
                             f"task weight w_s; strategy={strategy!r} weights the task loss 1 "
                             'already')
        if not 0 <= drop_rate < 1:
            raise ValueError(f'ClassroomKDLoss: drop_rate must be in [0, 1), got {drop_rate}')
        if share_decimals is not None and not (isinstance(share_decimals, int)
                                               and share_decimals >= 0):
            raise ValueError('ClassroomKDLoss: share_decimals must be None or an int >= 0, '
                             f'got {share_decimals!r}')
        self.task = task
        self.heatmap_kd = heatmap_kd
        self.sync_ranking = sync_ranking
        self.settings = ClassroomSettings(strategy, base_temperature, distill_weight,
                                          knowledge_filtering, mentoring, ranking, granularity,
                                          performance, temperature, drop_rate,
                                          share_decimals, dtkd_variant, task_weighting)

    def default_rep(self) -> Representation:
        """The representation of ``task`` with default options."""
        if self.task == 'heatmap':
            return HeatmapRep(self.heatmap_kd)
        return TASKS[self.task]()

    def forward(self,
                student: Tensor,
                mentors: Sequence[Tensor],
                targets,
                task_loss: Optional[Callable[[Optional[Tensor]], Tensor]] = None,
                rep: Optional[Representation] = None,
                mentor_reps: Optional[Sequence[Representation]] = None,
                mentor_names: Optional[Sequence[str]] = None,
                lazy_mentors=None) -> Dict[str, Tensor]:
        """Loss of a batch.

        Args:
            student: the student's output (logits for 'cls').
            mentors: every mentor's output, in its own representation.
            targets: labels for 'cls', ``PoseTargets`` for pose.
            task_loss: ``task_loss(sample_weight)`` returns the student's task loss with every
                sample's term scaled by ``sample_weight`` ([N], or ``None`` for 1). Defaults to
                the representation's own (cross-entropy for 'cls').
            rep, mentor_reps: the representations of the student and of each mentor; default
                to ``task``'s.
            mentor_names: names used in the logged statistics; default 'mentor1', ...
            lazy_mentors (LazyMentors, optional): the distiller's schedule; a mentor whose
                output is None did not run on this batch: it is ranked on the performance the
                schedule kept and cannot teach. The schedule receives the batch's plan.

        Returns:
            dict: ``loss_task`` and ``loss_kd`` (their sum is the loss), and for logging
            ``r_s``, the task weight ``w_s`` and per mentor ``r_<name>``, ``t_<name>``, the
            student's temperature in its term ``ts_<name>``, ``active_<name>`` and
            ``nonfinite_<name>`` (1 when its outputs had NaN or inf and it sat out).
        """
        rep = rep or self.default_rep()
        mentor_reps = mentor_reps or [rep] * len(mentors)
        mentor_names = mentor_names or [f'mentor{i + 1}' for i in range(len(mentors))]
        if task_loss is None:
            task_loss = self._default_task_loss(rep, student, targets)
        all_reduce = _all_reduce_sum if self.sync_ranking and dist.is_initialized() else None
        previous = None
        if lazy_mentors is not None:
            previous = lazy_mentors.last_performance(parts(student)[0].device)
        result = classroom_objective(rep, student, mentors, mentor_reps, targets, task_loss,
                                     self.settings, all_reduce, previous)
        if lazy_mentors is not None:
            lazy_mentors.observe(result.plan)
        return dict(loss_task=result.loss_task, loss_kd=result.loss_kd,
                    **summarize(result, mentor_names))

    @staticmethod
    def _default_task_loss(rep: Representation, student, targets):
        def task_loss(sample_weight: Optional[Tensor]) -> Tensor:
            per_sample = rep.task_loss(student, targets)
            if sample_weight is not None:
                per_sample = per_sample * sample_weight
            return per_sample.mean()

        return task_loss

    def extra_repr(self) -> str:
        return f'task={self.task}, {self.settings}'
