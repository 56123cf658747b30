"""Whole-training cost of ``mentor_cache``: the stock Runner trains the student alone, the
classroom teaching live, the classroom filling a cache and the classroom replaying it, on the
same iterations, one after the other in one process, ``--rounds`` times in turn (so that the
machine's load falls on all four alike). Reports each run's wall time of ``runner.train()``
(the mentor check and validation left out) and the ratios to the student alone.

    python tools/benchmark_teach_once.py [--student configs/cls/fashion_mnist/converged/resnet8_fmnist_converged.py]
        [--classroom configs/cls/fashion_mnist/converged/classroom_resnet8_fmnist_converged.py]
        [--iters 200] [--rounds 2] [--synthetic N [--input-size 32 32]]

``--synthetic N`` trains on N random images of the input size with random labels, through
the config's own pipeline (for CIFAR-100, which this machine does not have), and mentors whose
checkpoint is not a local file get random weights, the same in every run (speed does not
depend on pixels or weights).
"""
import argparse
import copy
import gc
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools'))
import classroomkd_plugin  # noqa: E402,F401
from benchmark_speed import random_mentor_checkpoints  # noqa: E402
from classroomkd_plugin.models.distillers.classroom_distiller import (  # noqa: E402
    load_model_config)

CONVERGED = 'configs/cls/fashion_mnist/converged'
RUNS = ('student alone', 'classroom, live', 'classroom, filling the cache',
        'classroom, replaying the cache')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--student', default=f'{CONVERGED}/resnet8_fmnist_converged.py')
    parser.add_argument('--classroom',
                        default=f'{CONVERGED}/classroom_resnet8_fmnist_converged.py')
    parser.add_argument('--iters', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=2)
    parser.add_argument('--synthetic', type=int, metavar='N')
    parser.add_argument('--input-size', type=int, nargs=2, default=(32, 32), metavar=('H', 'W'))
    return parser.parse_args()


@DATASETS.register_module()
class SyntheticImages(BaseDataset):
    """``num_images`` random uint8 images of ``size`` (H, W) with random labels, served under
    ``img`` like MMPretrain's CIFAR datasets."""

    def __init__(self, num_images: int, size: Sequence[int], num_classes: int, **kwargs):
        self.num_images, self.size, self.num_classes = num_images, tuple(size), num_classes
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self) -> List[dict]:
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (self.num_images, *self.size, 3), dtype=np.uint8)
        labels = rng.integers(0, self.num_classes, self.num_images)
        return [dict(img=image, gt_label=int(label)) for image, label in zip(images, labels)]


def prepare(config: str, args, work_dir: Path) -> Config:
    """The config as every run of it trains: on synthetic images and with random-weight
    mentors where asked for, validation left out."""
    cfg = Config.fromfile(ROOT / config)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    if args.synthetic:
        wrapper = cfg.train_dataloader.dataset
        inner = wrapper.dataset if wrapper.type == 'DeterministicViews' else wrapper
        student = cfg.model.student if cfg.model.type == 'ClassroomDistiller' else cfg.model
        num_classes = load_model_config(student)[0]['head']['num_classes']
        synthetic = dict(type='SyntheticImages', num_images=args.synthetic,
                         size=args.input_size, num_classes=num_classes,
                         pipeline=inner.pipeline)
        if inner is wrapper:
            cfg.train_dataloader.dataset = synthetic
        else:
            wrapper.dataset = synthetic
    if cfg.model.type == 'ClassroomDistiller':
        work_dir.mkdir(parents=True, exist_ok=True)
        random_mentor_checkpoints(cfg, work_dir)
    return cfg


def train_seconds(cfg: Config, iters: int, work_dir: Path, cache: Optional[str] = None) -> float:
    cfg = copy.deepcopy(cfg)
    cfg.train_cfg = dict(by_epoch=False, max_iters=iters, val_interval=iters + 1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters + 1)
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    cfg.experiment_name = work_dir.name
    if cfg.model.type == 'ClassroomDistiller':
        cfg.custom_hooks = [dict(type='MentorCacheHook'), dict(type='ClassroomHook')]
        if cache:
            cfg.model.mentor_cache = dict(dir=cache)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    seconds = time.perf_counter() - start
    # persistent workers are joined when the runner is collected, seconds later: not in the
    # next run's timing
    del runner
    gc.collect()
    return seconds


def main() -> None:
    args = parse_args()
    MMLogger.get_instance('mmengine', log_level=logging.WARNING)
    times = {run: [] for run in RUNS}
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        configs = [prepare(config, args, root / 'mentors')
                   for config in (args.student, args.classroom)]
        for round_ in range(args.rounds):
            cache = str(root / f'cache{round_}')  # filled afresh each round
            for run, config, cached in zip(RUNS, (configs[0], *[configs[1]] * 3),
                                           (None, None, cache, cache)):
                seconds = train_seconds(config, args.iters, root / f'{round_}_{len(times[run])}'
                                        f'_{run.split(",")[-1].strip().replace(" ", "_")}',
                                        cached)
                times[run].append(seconds)
                print(f'round {round_}: {run}: {seconds:.1f} s', flush=True)
    median = {run: statistics.median(values) for run, values in times.items()}
    data = f'{args.synthetic} synthetic images, ' if args.synthetic else ''
    print(f'\n{args.classroom}, {data}{args.iters} iterations, median of {args.rounds} rounds\n')
    print('| run | train() wall (s) | / student alone |\n| --- | --- | --- |')
    for run in RUNS:
        print(f'| {run} | {median[run]:.1f} | {median[run] / median[RUNS[0]]:.3f} |')
    print(f'\nfill / live = {median[RUNS[2]] / median[RUNS[1]]:.3f}; '
          f'replay / live = {median[RUNS[3]] / median[RUNS[1]]:.3f}')


if __name__ == '__main__':
    main()
