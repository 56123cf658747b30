"""Every kind of run of the GPU bundle's table, a few iterations each, through the benchmark's
own machinery (``tools/benchmark_accuracy.py``: its ``Bench``, worker processes and ledger):
the three mentors, then the student alone, AVER and ClassroomKD taught by them on as many
seeds as fill ``--jobs`` (sharing a mentor cache per seed, as the table's runs do). A device
bug shows in seconds instead of after a 30-epoch run, and the seconds per iteration it
measures, at the concurrency the real runs have, give the time each full run will take
(``--estimate``, read by ``plan.py``).

    python tools/gpu_bundle/smoke.py --iters 100 --jobs 8 --ledger $OUT/smoke.jsonl \
        --estimate $OUT/smoke_estimate.json

Its configs are the full protocol's (``configs/cls/fashion_mnist/full/``) with the schedule
cut to ``--iters`` and validation and test on the first ``--subset`` images, written under
``--work-dir``; its ledger is its own, never the table's.
"""
import argparse
import json
import math
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
import benchmark_accuracy as bench_lib  # noqa: E402

PROTOCOL = 'full'
ROWS = ('Student alone', 'AVER', 'ClassroomKD')
T0 = 12.0  # any grid point: the smoke test measures speed, not accuracy


def short_config(base: str, path: Path, iters: int, subset: int, extra: str = '') -> str:
    """A config inheriting ``base`` (relative to the repo root) with ``iters`` iterations;
    returned relative to the repo root, as the benchmark's specs name configs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'# Written by tools/gpu_bundle/smoke.py: {base}, {iters} iterations.\n'
        f'_base_ = [{str(ROOT / base)!r}]\n\n'
        f'param_scheduler = dict(T_max={iters})\n'
        f'train_cfg = dict(max_iters={iters}, val_interval={iters})\n'
        f'default_hooks = dict(checkpoint=dict(interval={iters}))\n'
        f'val_dataloader = dict(dataset=dict(subset={subset}))\n'
        f'test_dataloader = dict(dataset=dict(subset={subset}))\n' + extra)
    return str(path.relative_to(ROOT))


def seconds_per_iteration(record: dict, iters: int) -> tuple:
    """Median seconds per iteration from the run's MMEngine scalars (windows of 20
    iterations; the first, warming up, left out), else its training time over ``iters``;
    with the part of it spent loading data, where logged."""
    logs = sorted(Path(ROOT / record['work_dir']).glob('*/vis_data/scalars.json'))
    times, data = [], []
    if logs:
        for line in logs[-1].read_text().splitlines():
            scalars = json.loads(line)
            if 'time' in scalars:
                times.append(scalars['time'])
                data.append(scalars.get('data_time', math.nan))
    if len(times) > 1:
        return statistics.median(times[1:]), statistics.median(data[1:])
    return record['train_seconds'] / iters, math.nan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=100)
    parser.add_argument('--subset', type=int, default=1000,
                        help='validation and test images each run evaluates')
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument('--work-dir', type=Path, default=ROOT / 'work_dirs' / 'gpu_smoke')
    parser.add_argument('--ledger', type=Path, required=True)
    parser.add_argument('--estimate', type=Path,
                        help='write the estimated seconds of each kind of full run here')
    args = parser.parse_args()
    from mmengine.config import Config

    work_dir = args.work_dir.resolve()
    configs = work_dir / 'configs'
    classroom = bench_lib.config(bench_lib.CLASSROOMS['main'], PROTOCOL)
    mentors = Config.fromfile(ROOT / classroom).model.mentors

    mentor_specs, taught = [], []
    for mentor in mentors:
        cfg = short_config(mentor.config, configs / f'{mentor.name}.py', args.iters, args.subset)
        mentor_dir = work_dir / 'mentors' / mentor.name
        mentor_specs.append(dict(config=cfg, key=f'mentors/{mentor.name}/seed0', seed=0,
                                 work_dir=str(mentor_dir), with_test=True))
        taught.append(dict(name=mentor.name, config=mentor.config,
                           checkpoint=str(mentor_dir / f'iter_{args.iters}.pth')))
    # the name keeps 'classroom' in it: the benchmark gives such configs a mentor cache
    short_classroom = short_config(
        classroom, configs / 'classroom_smoke.py', args.iters, args.subset,
        f'model = dict(mentors={taught!r})\n')
    short_student = short_config(bench_lib.config(bench_lib.STUDENT, PROTOCOL),
                                 configs / 'student_smoke.py', args.iters, args.subset)

    rows = bench_lib.table_rows(dict(aver=(None, T0), classroom=(None, T0)), PROTOCOL)
    rows = {name: dict(rows[name], config=short_student if name == 'Student alone'
                       else short_classroom) for name in ROWS}
    seeds = list(range(max(1, args.jobs // len(ROWS))))  # as many runs at once as the table
    row_specs = bench_lib.specs_for('table', rows, seeds, work_dir, test=True, cached=True)

    args.ledger.unlink(missing_ok=True)  # a smoke test measures this machine, now
    bench = bench_lib.Bench(work_dir, args.jobs, PROTOCOL, args.ledger)
    bench.run_all(mentor_specs)
    bench.run_all(row_specs)
    failed = [s['key'] for s in mentor_specs + row_specs if s['key'] not in bench.results]
    if failed:
        sys.exit(f'smoke test FAILED: {failed}')

    full_iters = Config.fromfile(ROOT / classroom).train_cfg.max_iters
    print(f'\nSmoke test passed: {len(bench.results)} runs of {args.iters} iterations, '
          f'up to {args.jobs} at a time.\n')
    print(f'| run | s/iteration | of it loading data | est. full run ({full_iters} '
          'iterations), min |')
    print('| --- | --- | --- | --- |')
    seconds = {}
    for spec in mentor_specs + row_specs:
        record = bench.results[spec['key']]
        per_iter, data = seconds_per_iteration(record, args.iters)
        fixed = max(0.0, record['wall_seconds'] - per_iter * args.iters)  # start, val, test
        seconds[spec['key']] = per_iter * full_iters + fixed
        share = '' if math.isnan(data) else f'{100 * data / per_iter:.0f} %'
        print(f"| {spec['key']} | {per_iter:.4f} | {share} | {seconds[spec['key']] / 60:.1f} |")
    kinds = dict(mentor=[s['key'] for s in mentor_specs],
                 alone=[s['key'] for s in row_specs if '/Student alone/' in s['key']],
                 classroom=[s['key'] for s in row_specs if '/Student alone/' not in s['key']])
    estimate = {kind: round(max(seconds[k] for k in keys)) for kind, keys in kinds.items()}
    print(f'\nEstimated seconds of one full run, the slowest of each kind: {estimate}')
    if args.estimate:
        args.estimate.write_text(json.dumps(dict(estimate, iters=args.iters,
                                                 jobs=args.jobs)) + '\n')


if __name__ == '__main__':
    main()
