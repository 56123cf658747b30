"""ClassroomKD against its baselines and ablations on real data, over several seeds.

Trains the digits classrooms (configs/cls/digits/) with every strategy and ablation switch,
the same mentors, data and schedule, over ``--seeds`` seeds, and prints mean ± std accuracy
on the validation and the test split as Markdown tables. Nothing is chosen on the test split.

    python tools/benchmark_accuracy.py [--seeds 0 1 2] [--out docs/results_accuracy.md]

Mentors are trained first (seed 0) unless their checkpoints exist (`make demo` writes them).
"""
import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.runner import Runner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import classroomkd_plugin  # noqa: E402,F401

DIGITS = ROOT / 'configs' / 'cls' / 'digits'
CLASSROOM = DIGITS / 'classroom_resnet8_digits.py'
WEAK_CLASSROOM = DIGITS / 'classroom_resnet8_weak_digits.py'

# name: (classroom config, ClassroomKDLoss overrides, keep the config's gradient clipping)
RUNS = {
    'NOKD (student alone)': (CLASSROOM, dict(strategy='nokd'), True),
    'KD (teacher, T0)': (CLASSROOM, dict(strategy='kd'), True),
    'AVER': (CLASSROOM, dict(strategy='aver'), True),
    'DGKD': (CLASSROOM, dict(strategy='dgkd'), True),
    'CA-MKD': (CLASSROOM, dict(strategy='camkd'), True),
    'ClassroomKD': (CLASSROOM, dict(), True),
    'ClassroomKD without gradient clipping': (CLASSROOM, dict(), False),
    'Table 3: neither KF nor Mentoring': (CLASSROOM, dict(knowledge_filtering=False,
                                                          mentoring=False), True),
    'Table 3: KF only': (CLASSROOM, dict(mentoring=False), True),
    'Table 3: Mentoring only': (CLASSROOM, dict(knowledge_filtering=False), True),
    '+ weak mentor: AVER': (WEAK_CLASSROOM, dict(strategy='aver'), True),
    '+ weak mentor: CA-MKD': (WEAK_CLASSROOM, dict(strategy='camkd'), True),
    '+ weak mentor: ClassroomKD': (WEAK_CLASSROOM, dict(), True),
    # beyond the 30-minute default set
    'Method B ranking': (CLASSROOM, dict(ranking='uniform'), True),
    'DTKD temperature': (CLASSROOM, dict(temperature='dtkd'), True),
    'per-sample ranking': (CLASSROOM, dict(granularity='sample'), True),
}
DEFAULT_RUNS = list(RUNS)[:13]


def quiet(cfg: Config, work_dir: Path) -> Config:
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1, save_last=True)
    return cfg


def train_mentors() -> None:
    config = Config.fromfile(WEAK_CLASSROOM)
    for mentor in config.model.mentors:
        if Path(mentor.checkpoint).is_file():
            continue
        start = time.time()
        cfg = quiet(Config.fromfile(ROOT / mentor.config), Path(mentor.checkpoint).parent)
        runner = Runner.from_cfg(cfg)
        runner.train()
        acc = runner.test()['accuracy/top1']
        print(f'mentor {mentor.name}: test {acc:.2f}% ({time.time() - start:.0f} s)', flush=True)


def run(name: str, seed: int, out: Path) -> dict:
    config, overrides, clip = RUNS[name]
    cfg = Config.fromfile(config)
    cfg.model.distill_loss.update(overrides)
    cfg.randomness = dict(seed=seed)
    cfg.custom_hooks = [dict(type='ClassroomHook')]  # no mentor check: the mentors are known
    if not clip:
        del cfg.optim_wrapper.clip_grad
    slug = ''.join(c if c.isalnum() else '_' for c in name).strip('_')
    runner = Runner.from_cfg(quiet(cfg, out / f'{slug}_seed{seed}'))
    runner.train()
    return dict(val=runner.val()['accuracy/top1'], test=runner.test()['accuracy/top1'])


def mean_std(values) -> str:
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--runs', nargs='+', default=DEFAULT_RUNS, choices=list(RUNS))
    parser.add_argument('--work-dir', default=str(ROOT / 'work_dirs' / 'benchmark_accuracy'))
    parser.add_argument('--out', help='also write the Markdown table to this file')
    args = parser.parse_args()
    MMLogger.get_instance('mmengine', log_level=logging.WARNING)
    start = time.time()
    train_mentors()

    rows = []
    for name in args.runs:
        results = []
        for seed in args.seeds:
            results.append(run(name, seed, Path(args.work_dir)))
            print(f'{name}, seed {seed}: val {results[-1]["val"]:.2f}%, '
                  f'test {results[-1]["test"]:.2f}% ({time.time() - start:.0f} s)', flush=True)
        rows.append((name, [r['val'] for r in results], [r['test'] for r in results]))

    table = [f'Digits, ResNet-8 student, seeds {args.seeds}: top-1 accuracy (%), mean ± std', '',
             '| method | val | test |', '| --- | --- | --- |']
    table += [f'| {name} | {mean_std(val)} | {mean_std(test)} |' for name, val, test in rows]
    text = '\n'.join(table)
    print('\n' + text + f'\n\n({time.time() - start:.0f} s)')
    if args.out:
        Path(args.out).write_text(text + '\n')


if __name__ == '__main__':
    main()
