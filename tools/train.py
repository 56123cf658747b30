"""Train a classroom (or any MMPretrain / MMPose model): MMPretrain's and MMPose's
``tools/train.py`` with the same arguments, that also runs several processes without a GPU.

Usage:
    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
        [--cfg-options KEY=VALUE ...] [--launcher {none,pytorch,slurm,mpi}]
    tools/dist_train.sh CONFIG NUM_PROCESSES [ARGS]      (gloo on the CPU when CUDA is absent)
"""
import argparse
import sys
from pathlib import Path

import torch.distributed as dist
from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

# Lets the tool run from a checkout without installing the plugin.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# the plugin registers the classroom and lets --resume read MMEngine checkpoints under
# weights_only
from classroomkd_plugin import launch  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model (e.g. a ClassroomKD classroom)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', const='auto',
        help='resume from this checkpoint; without a path, from the latest one in the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help="scale the learning rate by the actual batch size / the config's "
        'auto_scale_lr.base_batch_size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, e.g. train_cfg.max_epochs=1 '
        'model.mentors.0.checkpoint=PATH')
    return launch.parse_with_launcher(parser)


def merge_args(cfg: Config, args) -> Config:
    cfg.launcher = args.launcher
    cfg.work_dir = launch.work_dir_of(cfg, args.config, args.work_dir)
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise SystemExit(f'--amp: the optimizer wrapper is {wrapper}, not OptimWrapper')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume is not None:
        cfg.resume = True
        cfg.load_from = None if args.resume == 'auto' else args.resume
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit('--auto-scale-lr: the config sets no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    launch.set_dataloader_defaults(cfg, 'train_dataloader', 'val_dataloader', 'test_dataloader')
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main():
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    started = launch.setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    if started:
        dist.destroy_process_group()


if __name__ == '__main__':
    main()
