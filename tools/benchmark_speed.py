"""What a ClassroomDistiller training step costs beyond the forward passes it must make.

On the same batches, in one process, it times (a) the student's stock training step
(forward, loss, backward, optimizer step), (b) each mentor's inference pass and (c) the
distiller's training step, and reports the medians after warm-up, the ratio c / (a + sum b),
and the peak working memory of (c) against (a) and the mentors' inference (memory above what
the loaded models already hold: VmHWM on CPU, the allocator's peak on CUDA). With a mentor
option (autocast, channels_last, compile, lazy mentors) the mentor passes (b) run with it, and
the same distiller without options is timed too (c0): c / c0 is the option's effect on the step.

    python tools/benchmark_speed.py CONFIG [--batch-size 64] [--input-size 32 32]
        [--mentor-autocast bfloat16] [--channels-last] [--mentor-compile]
        [--lazy-mentors K [--silent NAME ...]] [--mentor-cache float32 [--cache-topk K]]
        [--rank-drift 200] [--device cuda]

Lazy mentors: which mentors a step runs depends on the ranks, so ``--silent`` scripts the
schedule: the named mentors are reported silent on every check, the others teaching (the
ranks are still computed). A lazy step's time is then the median of the steps that ran each
set of mentors, weighted by how often that set ran over the timed steps (take ``--steps`` a
multiple of K).

Mentor cache (``--mentor-cache DTYPE [--cache-topk K]``): the classroom step (c) replays the
mentors' logits from a ``mentor_cache`` filled with this batch's, and (c0) is the classroom
teaching live: c / c0 is what teaching once saves on a step, c / a what is left beyond the
student's own step.

Mentor checkpoints that are not local files are replaced by random weights (speed does not
depend on the weights); inputs are synthetic batches with the student's targets.
"""
import argparse
import atexit
import copy
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.registry import MODELS, DefaultScope

PLAIN = 'classroom without options'

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
    parser.add_argument('--mentor-compile', action='store_true')
    parser.add_argument('--lazy-mentors', type=int, metavar='K')
    parser.add_argument('--silent', nargs='+', default=[], metavar='NAME',
                        help='with --lazy-mentors: mentors whose checks report them silent')
    parser.add_argument('--rank-drift', type=int, default=0, metavar='BATCHES',
                        help='also report the mean |r difference| between mentors in float32 '
                        'and under --mentor-autocast over this many batches')
    parser.add_argument('--mentor-cache', choices=['float32', 'float16'],
                        help="replay the mentors' logits, stored in this dtype")
    parser.add_argument('--cache-topk', type=int, metavar='K',
                        help='with --mentor-cache: store the top K logits and the label')
    parser.add_argument('--json', help='write the results to this file')
    parser.add_argument('--memory-only', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args()


def mentor_options(args) -> dict:
    return dict(mentor_autocast=args.mentor_autocast, mentor_channels_last=args.channels_last,
                mentor_compile=args.mentor_compile, lazy_mentors=args.lazy_mentors,
                mentor_cache=args.mentor_cache and dict(dtype=args.mentor_cache,
                                                        topk=args.cache_topk))


def fill_cache(distiller, inputs, samples, folder: Path) -> None:
    """Store the batch's mentor outputs in ``distiller``'s cache and reopen it to replay."""
    cache = distiller.mentor_cache
    for index, sample in enumerate(samples):
        sample.set_metainfo(dict(view=0, sample_idx=index))
    names = distiller.mentor_names[:len(distiller.mentors)]
    opened = dict(fingerprint={}, num_samples=len(samples), mentor_names=names, needed={0: None},
                  num_classes=distiller.student_task.signature()['number of classes'],
                  log=lambda line: None)
    cache.open(**opened)
    targets = distiller.student_task.targets(samples)
    cache.outputs(samples, targets, lambda: distiller.teach(inputs))
    cache.flush()
    cache.open(**opened)
    assert cache.replays, folder


def random_mentor_checkpoints(cfg: Config, workdir: Path) -> None:
    """Point the mentors whose checkpoint is not a local file (URLs too: this runs offline) at
    random weights saved in ``workdir``."""
    for mentor in cfg.model.mentors:
        if not Path(mentor.checkpoint).is_file():
            mentor_cfg, scope = load_model_config(mentor.config)
            model = build_model(mentor_cfg, scope or cfg.default_scope)
            mentor.checkpoint = str(workdir / f'{mentor.name}.pth')
            torch.save({'state_dict': model.state_dict()}, mentor.checkpoint)


def build_distiller(cfg: Config, args, workdir: Path, options: dict):
    random_mentor_checkpoints(cfg, workdir)
    cfg.model.update(options)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(cfg.model).to(args.device).train()


def script_lazy_mentors(distiller, silent: Sequence[str], device) -> list:
    """Record which mentors each step runs; with ``silent``, report those mentors silent on
    every check and the others teaching."""
    lazy, names = distiller.lazy_mentors, distiller.mentor_names
    unknown = set(silent) - set(names)
    if unknown:
        raise SystemExit(f'--silent: no mentor named {sorted(unknown)}; mentors: {names}')
    select, observe, runs = lazy.select, lazy.observe, []

    def recorded_select():
        runs.append(tuple(select()))
        return list(runs[-1])

    lazy.select = recorded_select
    if silent:
        teaching = torch.tensor([[name not in silent] for name in names], device=device)

        def scripted_observe(plan):
            plan.active = teaching
            observe(plan)

        lazy.observe = scripted_observe
    return runs


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
    """The distiller, the record of the lazy mentors' schedule (or None) and the kinds of
    step, on one synthetic batch."""
    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options)
    options = mentor_options(args)
    cache_dir = Path(tempfile.mkdtemp(prefix='mentor_cache_'))
    atexit.register(shutil.rmtree, cache_dir, True)
    if options['mentor_cache']:
        options['mentor_cache']['dir'] = str(cache_dir)
    with tempfile.TemporaryDirectory() as workdir:
        torch.manual_seed(0)
        distiller = build_distiller(copy.deepcopy(cfg), args, Path(workdir), options)
        plain = None
        if any(options.values()):
            torch.manual_seed(0)
            plain = build_distiller(cfg, args, Path(workdir), {})
    inputs, samples = synthetic_batch(distiller, args.batch_size, args.input_size, args.device)
    if args.mentor_cache:
        fill_cache(distiller, inputs, samples, cache_dir)
    runs = args.lazy_mentors and script_lazy_mentors(distiller, args.silent, inputs.device)

    def train_step(model, optimizer):
        def step():
            losses = model(inputs, samples, mode='loss')
            loss, _ = model.parse_losses(losses)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    def mentor_pass(index):  # as the distiller runs it, with its options
        run = [k == index for k in range(len(distiller.mentors))]
        return lambda: distiller.teach(inputs, run)

    optimizer = torch.optim.SGD(distiller.student.parameters(), lr=1e-4, momentum=0.9)
    steps = {'student': train_step(distiller.student, optimizer)}
    steps.update({f'{type(m.model).__name__}[{name}]': mentor_pass(k)
                  for k, (name, m) in enumerate(zip(distiller.mentor_names, distiller.mentors))})
    steps['classroom'] = train_step(distiller, optimizer)
    if plain is not None:
        steps[PLAIN] = train_step(
            plain, torch.optim.SGD(plain.student.parameters(), lr=1e-4, momentum=0.9))
    return distiller, runs, steps, inputs


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
    distiller, runs, steps, inputs = prepare(args)
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
    results = dict(config=args.config, device=str(inputs.device), batch=args.batch_size,
                   input=list(inputs.shape[-2:]), **mentor_options(args))
    if runs:
        timed_runs = runs[args.warmup:]
        median['classroom'] = weighted_median(times['classroom'], timed_runs) * 1000
        results.update(silent=args.silent, mentor_passes_saved=1 - sum(map(sum, timed_runs)) /
                       (len(timed_runs) * len(distiller.mentors)))
    mentors = [k for k in steps if k not in ('student', 'classroom', PLAIN)]
    memory = peak_memory(args, steps)
    results.update(median_ms=median,
                   ratio=median['classroom'] / sum(median[k] for k in ['student', *mentors]),
                   peak_mib=memory,
                   memory_ratio=memory['classroom'] /
                   (memory['student'] + max(memory[k] for k in mentors)))
    if PLAIN in median:
        results['step_ratio'] = median['classroom'] / median[PLAIN]
    if args.mentor_cache:
        results['student_ratio'] = median['classroom'] / median['student']
    if args.rank_drift:
        results['rank_drift'] = rank_drift(distiller, args)

    options = ', '.join(f'{k} {v}' for k, v in mentor_options(args).items() if v)
    print(f"{args.config} on {results['device']}, batch {args.batch_size}, input "
          f"{results['input']}, {options or 'no mentor options'}")
    print('| step | median ms | peak MiB |\n| --- | --- | --- |')
    for key in steps:
        print(f'| {key} | {median[key]:.1f} | {memory[key]:.0f} |')
    if runs:
        print(f"lazy mentors (silent: {', '.join(args.silent) or 'as ranked'}): "
              f"{results['mentor_passes_saved']:.1%} of the mentor passes skipped; the "
              'classroom time weighs the median of each set of mentors run by its frequency')
    print(f"ratio classroom / (student + mentors) = {results['ratio']:.3f}")
    if PLAIN in median:
        print(f"ratio classroom / {PLAIN} = {results['step_ratio']:.3f}")
    if args.mentor_cache:
        print(f"ratio classroom (mentors replayed) / student = {results['student_ratio']:.3f}")
    print(f"peak memory classroom / (student + largest mentor) = {results['memory_ratio']:.3f}")
    if 'rank_drift' in results:
        print(f"mean |r(float32) - r({args.mentor_autocast})| over {args.rank_drift} batches "
              f"= {results['rank_drift']:.2e}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def weighted_median(times: Sequence[float], runs: Sequence[tuple]) -> float:
    """The median time of the steps that ran each set of mentors, weighted by how often
    that set ran."""
    groups = {}
    for elapsed, run in zip(times, runs):
        groups.setdefault(run, []).append(elapsed)
    return sum(len(group) * statistics.median(group) for group in groups.values()) / len(times)


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
