"""Whether a stage of ``run_bundle.sh`` has runs left and fits in the time left, so that a
device call starts no wave of runs it would have to kill at its time budget.

    python tools/gpu_bundle/plan.py --ledger L [--smoke S] --left SECONDS --jobs J \
        {mentors | alone SEEDS | choices CHOICE_SEEDS | table SEEDS}

Exit 0: run it; 1: nothing left to run; 2: it does not fit (what it would take is printed).
A full run's seconds are the slowest finished run of its kind in the ledger (they ran at the
concurrency the stages have), else the smoke test's estimate, else unknown (it runs).
The runs left are the benchmark's own specs (``tools/benchmark_accuracy.py``) less the
ledger's, counted as the benchmark counts them.
"""
import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))
import benchmark_accuracy as bench_lib  # noqa: E402

PROTOCOL = 'full'
MARGIN = 1.1  # what a wave may take beyond its estimate
CHOICES = ('aver, T0*', 'classroom, T0*')
TABLE = ('AVER', 'ClassroomKD')


def kind(key: str) -> str:
    """mentor, alone or classroom: the three speeds of the bundle's runs."""
    if key.startswith('mentors/'):
        return 'mentor'
    return 'alone' if key.startswith('table/Student alone/') else 'classroom'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--ledger', type=Path, required=True)
    parser.add_argument('--smoke', type=Path)
    parser.add_argument('--left', type=float, required=True, help='seconds left')
    parser.add_argument('--jobs', type=int, required=True)
    parser.add_argument('stage', choices=['mentors', 'alone', 'choices', 'table'])
    parser.add_argument('seeds', type=int, nargs='*', default=[0])
    args = parser.parse_args()

    bench = bench_lib.Bench(ROOT / 'work_dirs' / 'plan', 1, PROTOCOL, args.ledger)
    work_dir = Path('plan')
    if args.stage == 'mentors':
        specs = bench_lib.mentor_specs([0], work_dir, PROTOCOL)
    elif args.stage == 'choices':
        rows = bench_lib.only(bench_lib.choice_rows(PROTOCOL), list(CHOICES))
        specs = bench_lib.specs_for('choices', rows, args.seeds, work_dir, test=False)
    else:
        # which T0 does not change a run's key
        rows = bench_lib.table_rows(dict(aver=(None, 4.0), classroom=(None, 4.0)), PROTOCOL)
        names = ['Student alone'] if args.stage == 'alone' else list(TABLE)
        specs = bench_lib.specs_for('table', {n: rows[n] for n in names}, args.seeds,
                                    work_dir, test=True)
    left = [s['key'] for s in specs if s['key'] not in bench.results]
    if not left:
        print(f'plan: {args.stage} {args.seeds}: nothing left to run')
        sys.exit(1)

    seconds = {}
    for key, record in bench.results.items():
        seconds[kind(key)] = max(seconds.get(kind(key), 0), record['wall_seconds'])
    if args.smoke and args.smoke.is_file():
        for name, value in json.loads(args.smoke.read_text()).items():
            seconds.setdefault(name, value)
    per_run = max((seconds[kind(k)] for k in left if kind(k) in seconds), default=None)
    waves = math.ceil(len(left) / args.jobs)
    if per_run is None:
        print(f'plan: {args.stage} {args.seeds}: {len(left)} runs, time unknown: run')
        sys.exit(0)
    need = waves * per_run
    fits = need * MARGIN <= args.left
    print(f'plan: {args.stage} {args.seeds}: {len(left)} runs in {waves} wave(s) of about '
          f'{per_run / 60:.1f} min, {need / 60:.1f} min, {args.left / 60:.1f} min left: '
          f"{'run' if fits else 'does not fit, left for a later call'}")
    sys.exit(0 if fits else 2)


if __name__ == '__main__':
    main()
