import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.dist import master_only
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu


@HOOKS.register_module()
class ScoreSnapshotHook(Hook):
    """Keeps, for every target score, the weights of the validation whose score came closest
    to it: the checkpoints of one training run at chosen accuracies.

    The ClassroomKD paper's homogeneous classrooms (Sarode et al.,
    https://arxiv.org/abs/2409.20237, Table 4) take their peers from the teacher's own
    pre-training, at given validation accuracies; this hook writes them while that run trains,
    as ``<work_dir>/<metric's last part>_<target with 2 decimals>.pth`` (for example
    ``top1_60.23.pth``), holding ``state_dict`` and ``meta`` (epoch, score, target). A resumed
    run continues the search from the snapshots already written.

    Args:
        targets: scores to approach, in the metric's unit (MMPretrain's accuracy: %).
        metric: the validation metric compared with the targets.
    """

    priority = 'LOW'  # after the evaluator's metrics are logged

    def __init__(self, targets: Sequence[float], metric: str = 'accuracy/top1') -> None:
        if not targets:
            raise ValueError('ScoreSnapshotHook: give at least one target score')
        self.targets = sorted(float(t) for t in targets)
        self.metric = metric
        self.closest: Dict[float, float] = {}  # target -> smallest |score - target| so far

    def filename(self, target: float) -> str:
        return f"{self.metric.split('/')[-1]}_{target:.2f}.pth"

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not metrics or self.metric not in metrics:
            raise KeyError(f'ScoreSnapshotHook: the validation reported no {self.metric!r} '
                           f'(got {sorted(metrics or {})})')
        score = float(metrics[self.metric])
        for target in self.targets:
            gap = abs(score - target)
            if gap < self.closest.get(target, float('inf')):
                self.closest[target] = gap
                self._save(runner, target, score)

    @master_only
    def _save(self, runner, target: float, score: float) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        meta = dict(epoch=runner.epoch, iter=runner.iter, score=score, target=target,
                    metric=self.metric)
        save_checkpoint(dict(meta=meta, state_dict=weights_to_cpu(get_state_dict(model))),
                        osp.join(runner.work_dir, self.filename(target)))

    def before_train(self, runner) -> None:
        # A resumed run goes on from the snapshots it wrote: its checkpoints are saved before
        # their epoch's validation, so they cannot carry the last result.
        self.closest = {}
        if runner.iter == 0:
            return
        for target in self.targets:
            path = osp.join(runner.work_dir, self.filename(target))
            if osp.isfile(path):
                score = torch.load(path, map_location='cpu')['meta']['score']
                self.closest[target] = abs(score - target)
