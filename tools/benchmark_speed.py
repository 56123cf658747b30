"""What a ClassroomDistiller training step costs beyond the forward passes it must make.

On the same batches, in one process, it times (a) the student's stock training step
(forward, loss, backward, optimizer step), (b) each mentor's inference pass and (c) the
distiller's training step, and reports the medians after warm-up, the ratio c / (a + sum b),
and the peak working memory of (c) against (a) and the mentors' inference (memory above what
the loaded models already hold: VmHWM on CPU, the allocator's peak on CUDA).

    python tools/benchmark_speed.py CONFIG [--batch-size 64] [--input-size 32 32]
        [--mentor-autocast bfloat16] [--channels-last] [--rank-drift 200] [--device cuda]

Mentor checkpoints that are not local files are replaced by random weights (speed does not
depend on the weights); inputs are synthetic batches with the student's targets.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, DefaultScope

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import classroomkd_plugin  # noqa: E402,F401
from classroomkd_plugin.models.distillers.classroom_distiller import (  # noqa: E402
    build_model, load_model_config)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='defaults to the student codec input (pose) or 32 x 32 (cls)')
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--mentor-autocast', choices=['bfloat16', 'float16'])
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--rank-drift', type=int, default=0, metavar='BATCHES',
                        help='also report the mean |r difference| between mentors in float32 '
                        'and under --mentor-autocast over this many batches')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument('--memory-only', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args()


def build_distiller(cfg: Config, args, workdir: Path):
    for mentor in cfg.model.mentors:
        if not Path(mentor.checkpoint).is_file():  # URLs too: this runs offline
            mentor_cfg, scope = load_model_config(mentor.config)
            model = build_model(mentor_cfg, scope or cfg.default_scope)
            mentor.checkpoint = str(workdir / f'{mentor.name}.pth')
            torch.save({'state_dict': model.state_dict()}, mentor.checkpoint)
    cfg.model.mentor_autocast = args.mentor_autocast
    cfg.model.mentor_channels_last = args.channels_last
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model).to(args.device).train()


def synthetic_batch(distiller, batch_size: int, input_size, device: str):
    """Normalised random images and data samples with the student's targets."""
    adapter = distiller.student_task
    if adapter.rep.name == 'cls':
        from mmpretrain.structures import DataSample
        height, width = input_size or (32, 32)
        num_classes = adapter.signature()['number of classes']
        samples = [DataSample().set_gt_label(i % num_classes) for i in range(batch_size)]
    else:
        import numpy as np
        from mmengine.structures import InstanceData, PixelData
        from mmpose.structures import PoseDataSample
        codec = distiller.student.head.decoder
        width, height = codec.input_size
        num_keypoints = adapter.signature()['number of keypoints']
        rng = np.random.RandomState(0)
        samples = []
        for _ in range(batch_size):
            keypoints = rng.rand(1, num_keypoints, 2) * [width * 0.8, height * 0.8] + 4
            encoded = codec.encode(keypoints, np.ones((1, num_keypoints)))
            sample = PoseDataSample(metainfo=dict(input_size=(width, height)))
            sample.gt_instances = InstanceData(keypoints=keypoints)
            sample.gt_instance_labels = InstanceData(**{
                k: torch.as_tensor(encoded[k]).float()
                for k in ('keypoint_weights', 'keypoint_x_labels', 'keypoint_y_labels')
                if k in encoded
            })
            if 'heatmaps' in encoded:
                sample.gt_fields = PixelData(heatmaps=torch.as_tensor(encoded['heatmaps']))
            samples.append(sample)
    samples = [s.to(device) for s in samples]
    return torch.randn(batch_size, 3, height, width, device=device), samples


def synchronize(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


class PeakMemory:
    """Peak memory above the current level while a function runs."""

    def __init__(self, device: str):
        self.cuda = device.startswith('cuda')

    def __call__(self, fn) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - base) / 2**20
        Path('/proc/self/clear_refs').write_text('5')  # resets VmHWM to the current RSS
        base = self._vm('VmRSS')
        fn()
        return (self._vm('VmHWM') - base) / 1024

    @staticmethod
    def _vm(field: str) -> int:
        return int(re.search(rf'{field}:\s+(\d+)', Path('/proc/self/status').read_text())[1])


def prepare(args):
    """The distiller and the three kinds of step, on one synthetic batch."""
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as workdir:
        distiller = build_distiller(cfg, args, Path(workdir))
    inputs, samples = synthetic_batch(distiller, args.batch_size, args.input_size, args.device)
    optimizer = torch.optim.SGD(distiller.student.parameters(), lr=1e-4, momentum=0.9)

    def train_step(model):
        def step():
            losses = model(inputs, samples, mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    def mentor_pass(mentor):
        def run():
            with torch.no_grad(), torch.autocast(inputs.device.type,
                                                 getattr(torch, args.mentor_autocast or 'float32'),
                                                 enabled=args.mentor_autocast is not None):
                x = inputs.contiguous(memory_format=torch.channels_last) \
                    if args.channels_last else inputs
                mentor.outputs(x)

        return run

    steps = {'student': train_step(distiller.student)}
    steps.update({f'{type(m.model).__name__}[{name}]': mentor_pass(m)
                  for name, m in zip(distiller.mentor_names, distiller.mentors)})
    steps['classroom'] = train_step(distiller)
    return distiller, steps, inputs


def peak_memory(args, steps) -> dict:
    """Peak working memory of every step, in MiB."""
    if args.device.startswith('cuda'):
        return {key: PeakMemory(args.device)(step) for key, step in steps.items()}
    # glibc keeps freed tensors' memory for reuse, hiding CPU peaks from VmHWM; with a fixed
    # mmap threshold tensors above 64 KiB go back to the system when freed. That slows
    # allocation, so it runs in a separate process, away from the timings.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_='65536')
    out = subprocess.run([sys.executable, *sys.argv, '--memory-only'], env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    args = parse_args()
    distiller, steps, inputs = prepare(args)
    if args.memory_only:
        for step in steps.values():  # warm-up
            step()
        print(json.dumps({key: PeakMemory(args.device)(step) for key, step in steps.items()}))
        return

    times = {key: [] for key in steps}
    for iteration in range(args.warmup + args.steps):
        for key, step in steps.items():
            elapsed = timed(step, args.device)
            if iteration >= args.warmup:
                times[key].append(elapsed)
    median = {k: statistics.median(v) * 1000 for k, v in times.items()}
    mentors = [k for k in steps if k not in ('student', 'classroom')]
    memory = peak_memory(args, steps)

    results = dict(config=args.config, device=str(inputs.device), batch=args.batch_size,
                   input=list(inputs.shape[-2:]), mentor_autocast=args.mentor_autocast,
                   channels_last=args.channels_last, median_ms=median,
                   ratio=median['classroom'] / sum(median[k] for k in ['student', *mentors]),
                   peak_mib=memory,
                   memory_ratio=memory['classroom'] /
                   (memory['student'] + max(memory[k] for k in mentors)))
    if args.rank_drift:
        results['rank_drift'] = rank_drift(distiller, args)

    print(f"{args.config} on {results['device']}, batch {args.batch_size}, input "
          f"{results['input']}, mentor autocast {args.mentor_autocast}, channels_last "
          f"{args.channels_last}")
    print('| step | median ms | peak MiB |\n| --- | --- | --- |')
    for key in steps:
        print(f'| {key} | {median[key]:.1f} | {memory[key]:.0f} |')
    print(f"ratio classroom / (student + mentors) = {results['ratio']:.3f}")
    print(f"peak memory classroom / (student + largest mentor) = {results['memory_ratio']:.3f}")
    if 'rank_drift' in results:
        print(f"mean |r(float32) - r({args.mentor_autocast})| over {args.rank_drift} batches "
              f"= {results['rank_drift']:.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


@torch.no_grad()
def rank_drift(distiller, args) -> float:
    """Mean absolute difference of the rank scores between mentors run in float32 and
    under autocast, on fresh random batches."""
    if args.mentor_autocast is None:
        raise SystemExit('--rank-drift needs --mentor-autocast')
    from classroomkd_plugin.core import plan_classroom
    adapter = distiller.student_task
    settings = distiller.distill_loss.settings
    mentor_reps = [m.rep for m in distiller.mentors]
    diffs = []
    for i in range(args.rank_drift):
        torch.manual_seed(i)
        inputs, samples = synthetic_batch(distiller, args.batch_size, args.input_size,
                                          args.device)
        student = adapter.outputs(inputs)
        targets = adapter.targets(samples)
        ranks = []
        for autocast in (None, args.mentor_autocast):
            distiller.mentor_autocast = autocast
            plan, _, _ = plan_classroom(adapter.rep, student, distiller.teach(inputs),
                                        mentor_reps, targets, settings)
            ranks.append(plan.ranks)
        diffs.append((ranks[0] - ranks[1]).abs().mean())
    return torch.stack(diffs).mean().item()


if __name__ == '__main__':
    main()
