"""What ``tools/train.py`` and ``tools/test.py`` add to MMEngine's set-up.

MMEngine's ``--launcher pytorch`` needs a GPU: its ``_init_dist_pytorch`` calls
``torch.cuda.set_device(local_rank)`` whatever backend the config names, the Runner's
default DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which a CPU module rejects, and DDP
refuses SyncBatchNorm layers (RTMPose's backbones) in CPU modules. Without CUDA,
``setup_cpu_distributed`` therefore starts the gloo process group itself (the Runner then
skips its own start) and wraps the model with ``CPUDistributedDataParallel``.
"""
import argparse
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
from mmengine.registry import MODEL_WRAPPERS

# MMPretrain's configs leave these to its tools (MMPose's tools set none); the config's own
# values win.
MMPRETRAIN_DATALOADER_DEFAULTS = dict(pin_memory=True, collate_fn=dict(type='default_collate'))


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` for processes without a GPU: no device ids, and
    SyncBatchNorm layers become BatchNorm (each process normalises its own shard, as a
    GPU run without ``sync_bn`` does)."""

    def __init__(self, module, **kwargs):
        kwargs['device_ids'] = None
        super().__init__(module=revert_sync_batchnorm(module), **kwargs)


def parse_with_launcher(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add the stock tools' ``--launcher`` and ``--local_rank`` to ``parser`` and parse."""
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank; torchrun sets LOCAL_RANK instead
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def work_dir_of(cfg: Config, config_path: str, work_dir=None) -> str:
    """The command line's work dir, else the config's, else work_dirs/<config name>."""
    if work_dir is not None:
        return work_dir
    name = os.path.splitext(os.path.basename(config_path))[0]
    return cfg.get('work_dir') or os.path.join('./work_dirs', name)


def set_dataloader_defaults(cfg: Config, *fields: str) -> None:
    """Fill in the dataloader options that MMPretrain's tools add to its configs."""
    if cfg.get('default_scope') != 'mmpretrain':
        return
    for field in fields:
        loader = cfg.get(field)
        if loader is None:
            continue
        merged = ConfigDict(MMPRETRAIN_DATALOADER_DEFAULTS)
        # persistent workers need workers (torch raises otherwise)
        merged.persistent_workers = loader.get('num_workers', 0) > 0
        merged.update(loader)
        cfg[field] = merged


def setup_cpu_distributed(cfg: Config) -> bool:
    """Start the gloo process group for a ``--launcher pytorch`` run without CUDA.

    torchrun's RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT say where the group is. Returns
    whether this call started it.
    """
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available():
        return False
    dist_cfg = cfg.setdefault('env_cfg', ConfigDict()).setdefault('dist_cfg', ConfigDict())
    dist_cfg.backend = 'gloo'
    # the Runner's default wrapper options
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    if wrapper.get('type', 'MMDistributedDataParallel') != 'MMDistributedDataParallel':
        raise ValueError(f"model_wrapper_cfg type {wrapper.type} needs a GPU; without one, "
                         'tools/train.py runs MMDistributedDataParallel on the CPU')
    wrapper.type = 'CPUDistributedDataParallel'
    cfg.model_wrapper_cfg = wrapper
    if dist.is_initialized():
        return False
    timeout = dist_cfg.get('timeout')
    dist.init_process_group(
        'gloo', timeout=None if timeout is None else timedelta(seconds=timeout))
    return True
