"""Test a classroom's student (or any MMPretrain / MMPose model): MMPretrain's and MMPose's
``tools/test.py`` with their common arguments, that also runs several processes without a GPU.

A classroom config tests its student; its mentors are rebuilt from their own checkpoints.

Usage:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out METRICS.json]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
    tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES [ARGS]
"""
import argparse
import sys
from pathlib import Path

import mmengine
import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# Lets the tool run from a checkout without installing the plugin.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the plugin registers the classroom and lets MMEngine read its checkpoints under
# weights_only
from classroomkd_plugin import launch  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument(
        '--out', help='save the metrics to this file (.json, .yaml or .pkl), as MMPose does '
        "(MMPretrain's --out --out-item metrics)")
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. test_dataloader.batch_size=32')
    return launch.parse_with_launcher(parser)


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    cfg.work_dir = launch.work_dir_of(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    launch.set_dataloader_defaults(cfg, 'test_dataloader')
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    started = launch.setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        mmengine.dump(metrics, args.out)
    if started:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
