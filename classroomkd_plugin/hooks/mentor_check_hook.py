import copy
import logging
import time
from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple

import torch
from mmengine.dist import get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import nn

# the metric reported, in this order of preference; otherwise the evaluator's first
PREFERRED_METRICS = ('accuracy/top1', 'coco/AP', 'PCK')
# metrics that report percentages (the others report fractions)
PERCENT_METRICS = ('Accuracy', 'MpiiPCKAccuracy')
CLS_CHANCE_FACTOR = 1.5  # classification: flagged at or below 1.5 x 100 / num_classes %
POSE_CHANCE_FRACTION = 0.05  # pose: flagged at or below 5% of the metric's full scale


@dataclass
class Score:
    """One model's row of the mentor check."""
    name: str
    role: str
    params_m: float
    metric: str
    value: float
    metric_type: str


@HOOKS.register_module()
class MentorCheckHook(Hook):
    """Before training, builds the mentors (``ClassroomDistiller.build_mentors``), evaluates
    every mentor and the student on the val set and logs a table (name, role, parameters in
    millions, metric), warning about every mentor that scores at chance level: a checkpoint
    that did not load, or a mentor of another dataset.

    Each model gets a fresh evaluator built from ``val_evaluator`` and sees the val batches
    through the distiller's data preprocessor, as the mentors see the training batches. The
    metric reported is the first of ``accuracy/top1``, ``coco/AP`` and ``PCK`` (MMPose's PCK
    and MPII's PCKh) that the evaluator returns, otherwise its first.

    Chance level: for classification, an accuracy at or below 1.5 x 100 / num_classes %;
    for pose, a score at or below 5% of the metric's full scale (0.05 AP or PCK, 5 for
    MPII's PCKh in %). The check is skipped when training resumes (iteration > 0).

    Args:
        max_batches (int, optional): evaluate on the first ``max_batches`` val batches only.
            Metrics that compare with a whole annotation file (MMPose's ``CocoMetric`` with
            ``ann_file``) then count the images left out as misses: their scores are logged
            as lower bounds and not checked for chance level. Defaults to None (the whole
            val set).
    """

    def __init__(self, max_batches: Optional[int] = None):
        if max_batches is not None and max_batches < 1:
            raise ValueError(f'MentorCheckHook: max_batches must be >= 1, got {max_batches}')
        self.max_batches = max_batches

    def before_train(self, runner) -> None:
        if runner.iter > 0:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not hasattr(model, 'mentors'):
            raise TypeError(f'MentorCheckHook needs a ClassroomDistiller, the model is a '
                            f'{type(model).__name__}')
        cache = getattr(model, 'mentor_cache', None)
        if cache is not None and cache.replays:
            self._report_recorded(cache)
            return
        model.build_mentors()
        val_cfg = runner.cfg.get('val_evaluator')
        if runner.val_loop is None or val_cfg is None:
            print_log('MentorCheckHook: no val_dataloader and val_evaluator; mentors not '
                      'checked', logger='current', level=logging.WARNING)
            return
        dataloader = runner.val_loop.dataloader
        partial = self.max_batches is not None and self.max_batches < len(dataloader)
        whole_file = partial and any(m.get('ann_file') for m in _metric_cfgs(val_cfg))

        start = time.time()
        was_training = model.training
        model.eval()
        names = model.mentor_names[:len(model.mentors)]
        scores = []
        try:
            for k, (name, mentor) in enumerate(zip(names, model.mentors)):
                scores.append(self._score(runner, model, mentor.model, name,
                                          'teacher' if k == 0 else 'peer'))
            scores.append(self._score(runner, model, model, 'student', 'student'))
        finally:
            model.train(was_training)

        batches = min(len(dataloader), self.max_batches or len(dataloader))
        note = (' (images left out count as misses: lower bounds)' if whole_file else '')
        title = f'Mentor check on {batches}/{len(dataloader)} val batches'
        print_log(_table(scores, f'{title}, {time.time() - start:.0f} s{note}:'),
                  logger='current')
        if cache is not None and is_main_process():
            cache.record_check(dict(title=title, scores=[asdict(s) for s in scores[:-1]]))
        if whole_file:
            return
        num_classes = _num_classes(model, dataloader)
        for score in scores[:-1]:
            threshold, rule = _chance_level(score, model.student_task.rep.name, num_classes)
            if threshold is not None and score.value <= threshold:
                print_log(f"mentor '{score.name}' scores {score.metric} = {score.value:.4g} on "
                          f'the val set, at chance level ({rule}): did its checkpoint load, '
                          'and was it trained on this dataset and label set?',
                          logger='current', level=logging.WARNING)

    @staticmethod
    def _report_recorded(cache) -> None:
        recorded = cache.meta.get('mentor_check')
        if not recorded:
            print_log(f'MentorCheckHook: mentors replayed from {cache.dir}, which recorded no '
                      'mentor check when it was filled', logger='current',
                      level=logging.WARNING)
            return
        scores = [Score(**score) for score in recorded['scores']]
        print_log(_table(scores, f"{recorded['title']}, recorded when {cache.dir} was filled "
                                 '(the mentors are replayed, not run):'), logger='current')

    @torch.no_grad()
    def _score(self, runner, distiller: nn.Module, network: nn.Module, name: str,
               role: str) -> Score:
        """Evaluate ``network`` (a mentor, or the distiller for the student)."""
        dataloader = runner.val_loop.dataloader
        evaluator = runner.build_evaluator(copy.deepcopy(runner.cfg.val_evaluator))
        if hasattr(dataloader.dataset, 'metainfo'):
            evaluator.dataset_meta = dataloader.dataset.metainfo
        num_samples = 0
        for i, data_batch in enumerate(dataloader):
            if self.max_batches is not None and i >= self.max_batches:
                break
            data = distiller.data_preprocessor(data_batch, False)
            outputs = network(**data, mode='predict')
            evaluator.process(data_samples=outputs, data_batch=data_batch)
            num_samples += len(outputs)
        size = len(dataloader.dataset) if self.max_batches is None else \
            num_samples * get_world_size()
        metric, value, metric_type = _pick_metric(evaluator, size)
        params = distiller.student if network is distiller else network
        return Score(name, role, sum(p.numel() for p in params.parameters()) / 1e6, metric,
                     value, metric_type)


def _metric_cfgs(cfg) -> List[dict]:
    """The metric configs of a ``val_evaluator`` (a metric, a list, or an Evaluator dict)."""
    metrics = cfg.get('metrics', cfg) if isinstance(cfg, dict) else cfg
    return list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]


def _pick_metric(evaluator, size: int) -> Tuple[str, float, str]:
    """(name, value, metric class) of the metric to report."""
    results = []
    for metric in evaluator.metrics:
        results += [(key, float(value), type(metric).__name__)
                    for key, value in metric.evaluate(size).items()
                    if isinstance(value, (int, float)) or getattr(value, 'ndim', 1) == 0]
    if not results:
        raise ValueError('MentorCheckHook: the val evaluator returned no scalar metric')
    for preferred in PREFERRED_METRICS:
        for result in results:
            if result[0] == preferred:
                return result
    return results[0]


def _num_classes(model: nn.Module, dataloader) -> Optional[int]:
    classes = model.student_task.signature().get('number of classes')
    if classes is None:
        classes = len(getattr(dataloader.dataset, 'metainfo', {}).get('classes', ())) or None
    return classes


def _chance_level(score: Score, task: str,
                  num_classes: Optional[int]) -> Tuple[Optional[float], str]:
    """The score at or below which a model is at chance level, and the rule, in words."""
    if task == 'cls':
        if not score.metric.startswith('accuracy/') or not num_classes:
            return None, ''
        threshold = CLS_CHANCE_FACTOR * 100 / num_classes
        return threshold, (f'<= {threshold:.3g} = {CLS_CHANCE_FACTOR} x 100 / '
                           f'{num_classes} classes')
    scale = 100.0 if score.metric_type in PERCENT_METRICS else 1.0
    threshold = POSE_CHANCE_FRACTION * scale
    return threshold, f'<= {threshold:.3g}, 5% of the full scale'


def _table(scores: List[Score], title: str) -> str:
    metric = scores[-1].metric
    rows = [('model', 'role', 'params (M)', metric)]
    rows += [(s.name, s.role, f'{s.params_m:.2f}', f'{s.value:.4g}') for s in scores]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ['  '.join(cell.ljust(w) if i < 2 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))) for row in rows]
    return '\n'.join([title] + lines)
