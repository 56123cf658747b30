"""Test helper for multi-process runs: every process writes what it logged.

MMEngine writes logs on rank 0 only; ``PerRankStatsHook`` (after ``ClassroomHook(interval=1)``
has put the classroom statistics into the message hub) records them every iteration on every
process and writes ``stats_rank<R>.json`` into the work dir: the statistics per iteration and
a checksum of the model's parameters at the end.
"""
import json
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

PREFIX = 'train/classroom/'


@HOOKS.register_module()
class PerRankStatsHook(Hook):
    priority = 'LOW'  # after ClassroomHook (NORMAL) has published the iteration's statistics

    def __init__(self):
        self.iterations = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        scalars = runner.message_hub.log_scalars
        self.iterations.append({key[len(PREFIX):]: scalars[key].current()
                                for key in scalars if key.startswith(PREFIX)})

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        with torch.no_grad():
            checksum = sum(p.double().sum() for p in model.parameters()).item()
        path = osp.join(runner.work_dir, f'stats_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(dict(iterations=self.iterations, param_checksum=checksum), f)
