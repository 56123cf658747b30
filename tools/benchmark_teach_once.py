"""Whole-training cost of ``mentor_cache``: the stock Runner trains the student alone, the
classroom teaching live, the classroom filling a cache and the classroom replaying it, on the
same iterations, one after the other in one process, ``--rounds`` times in turn (so that the
machine's load falls on all four alike). Reports each run's wall time of ``runner.train()``
(the mentor check and validation left out) and the ratios to the student alone.

    python tools/benchmark_teach_once.py [--student configs/cls/fashion_mnist/converged/resnet8_fmnist_converged.py]
        [--classroom configs/cls/fashion_mnist/converged/classroom_resnet8_fmnist_converged.py]
        [--iters 200] [--rounds 2]
"""
import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import classroomkd_plugin  # noqa: E402,F401

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
    return parser.parse_args()


def train_seconds(config: str, iters: int, work_dir: Path, cache: str = None) -> float:
    cfg = Config.fromfile(ROOT / config)
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
    return time.perf_counter() - start


def main() -> None:
    args = parse_args()
    MMLogger.get_instance('mmengine', log_level=logging.WARNING)
    times = {run: [] for run in RUNS}
    with tempfile.TemporaryDirectory() as root:
        root = Path(root)
        for round_ in range(args.rounds):
            cache = str(root / f'cache{round_}')  # filled afresh each round
            for run, config, cached in zip(RUNS, (args.student, *[args.classroom] * 3),
                                           (None, None, cache, cache)):
                seconds = train_seconds(config, args.iters, root / f'{round_}_{len(times[run])}'
                                        f'_{run.split(",")[-1].strip().replace(" ", "_")}',
                                        cached)
                times[run].append(seconds)
                print(f'round {round_}: {run}: {seconds:.1f} s', flush=True)
    median = {run: statistics.median(values) for run, values in times.items()}
    print(f'\n{args.classroom}, {args.iters} iterations, median of {args.rounds} rounds\n')
    print('| run | train() wall (s) | / student alone |\n| --- | --- | --- |')
    for run in RUNS:
        print(f'| {run} | {median[run]:.1f} | {median[run] / median[RUNS[0]]:.3f} |')
    print(f'\nfill / live = {median[RUNS[2]] / median[RUNS[1]]:.3f}; '
          f'replay / live = {median[RUNS[3]] / median[RUNS[1]]:.3f}')


if __name__ == '__main__':
    main()
