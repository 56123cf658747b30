"""`make demo`: ClassroomKD on real data, end to end, with the stock MMPretrain tools.

Fashion-MNIST, the converged protocol (`configs/cls/fashion_mnist/converged/`, docs/RESULTS.md):
tests the mentors, trained to their plateau on the 50,000 training images (the committed
`checkpoints/fashion_mnist/`, checked against the results ledger), trains the ResNet-8 student
alone and in the classroom (teaching live) on the transfer set, on the headline table's budget B
(two trainings at a time, one per core), tests them and prints a table: seed 0 of the headline
table's protocol, with the headline table's result over seeds from the ledger beside it. Without
Fashion-MNIST (no copy, no Debian package, no download) it says why and runs the demo on
scikit-learn's handwritten digits, mentors trained first.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import List, NamedTuple, Optional

import mmpretrain

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'tools'))
from generate_fmnist_full import STUDENT_ITERS, TRANSFER  # noqa: E402
STOCK_TOOLS = Path(mmpretrain.__file__).parent / '.mim' / 'tools'
PROGRESS = re.compile(r'Iter\(train\)|Epoch\(train\)')


class Job(NamedTuple):
    config: str  # under configs/cls/<suite>/
    role: str
    checkpoint: str  # the file training leaves in work_dirs/<config>/, or a committed one


class Demo(NamedTuple):
    data: str
    folder: str
    mentors: List[Job]
    student: Job
    classroom: Job


LEDGER = ROOT / 'docs' / 'results' / 'fashion_mnist.jsonl'
FASHION_MNIST = Demo(
    'Fashion-MNIST, test split of 10,000 images; mentors trained on the 50,000 training '
    f'images, the student on a transfer set of {TRANSFER:,} for {STUDENT_ITERS} iterations',
    'fashion_mnist/converged',
    [Job(f'{arch}_fmnist_converged', role, f'checkpoints/fashion_mnist/{arch}.pth')
     for arch, role in (('wrn_16_2', 'teacher'), ('resnet20', 'peer'), ('resnet14', 'peer'))],
    Job('resnet8_fmnist_converged', 'student alone', f'iter_{STUDENT_ITERS}.pth'),
    Job('classroom_resnet8_fmnist_converged', 'student in the classroom',
        f'iter_{STUDENT_ITERS}.pth'))
DIGITS = Demo(
    'handwritten digits (scikit-learn), test split of 359 images', 'digits',
    [Job('resnet32_digits', 'teacher', 'epoch_30.pth'),
     Job('resnet20_digits', 'peer', 'epoch_30.pth'),
     Job('resnet14_digits', 'peer', 'epoch_30.pth'),
     Job('mobilenetv2_digits', 'peer', 'epoch_30.pth')],
    Job('resnet8_digits', 'student alone', 'epoch_30.pth'),
    Job('classroom_resnet8_digits', 'student in the classroom', 'epoch_30.pth'))


class Result(NamedTuple):
    job: Job
    accuracy: float
    seconds: float  # training (0 when reused) and test
    checkpoint: Path


def stock(tool: str, *args: str, label: str, threads: Optional[int]) -> str:
    """Run a stock MMPretrain tool, echo its progress lines, return its output."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    process = subprocess.Popen([sys.executable, str(STOCK_TOOLS / tool), *args], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if PROGRESS.search(line):
            print(f'   [{label}]', line.split(' - ')[-1].strip()[:110], flush=True)
    if process.wait():
        sys.exit(f'{tool} {" ".join(args)} failed:\n' + ''.join(lines[-30:]))
    return ''.join(lines)


def train_and_test(demo: Demo, job: Job, threads: Optional[int]) -> Result:
    config = f'configs/cls/{demo.folder}/{job.config}.py'
    work_dir = ROOT / 'work_dirs' / job.config
    committed = '/' in job.checkpoint
    checkpoint = ROOT / job.checkpoint if committed else work_dir / job.checkpoint
    start = time.time()
    if committed:
        check_committed(job.config, checkpoint)
    elif checkpoint.exists():
        print(f'== {job.config} ({job.role}): trained already, {checkpoint}', flush=True)
    else:
        print(f'== training {job.config} ({job.role})', flush=True)
        stock('train.py', config, '--work-dir', str(work_dir), label=job.config, threads=threads)
    output = stock('test.py', config, str(checkpoint), '--work-dir', str(work_dir),
                   label=job.config, threads=threads)
    accuracy = float(re.findall(r'accuracy/top1: ([\d.]+)', output)[-1])
    seconds = time.time() - start
    print(f'   {job.config}: test top-1 {accuracy:.2f}% ({seconds:.0f} s)', flush=True)
    return Result(job, accuracy, seconds, checkpoint)


def check_committed(config: str, checkpoint: Path) -> None:
    """A committed mentor: there, and the very weights the ledger's run exported."""
    name = config.replace('_fmnist_converged', '')
    regenerate = ('python tools/benchmark_accuracy.py --protocol converged --stages mentors '
                  '--seeds 0')
    if not checkpoint.is_file():
        sys.exit(f'{checkpoint.relative_to(ROOT)} is missing: it is committed; `git checkout` '
                 f'it, or train it again with: {regenerate}')
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    recorded = [r.get('export_sha256') for r in ledger() if r['key'] == f'mentors/{name}/seed0']
    if recorded and digest not in recorded:
        sys.exit(f'{checkpoint.relative_to(ROOT)}: sha256 {digest[:12]}... is not the one the '
                 f'ledger recorded ({recorded[-1][:12]}...); restore it or: {regenerate}')
    print(f'== {config}: the committed mentor {checkpoint.relative_to(ROOT)} '
          f"(sha256 {'as recorded' if recorded else 'not in the ledger'})", flush=True)


def ledger() -> List[dict]:
    """The converged protocol's finished runs (docs/results/fashion_mnist.jsonl)."""
    if not LEDGER.is_file():
        return []
    records = (json.loads(line) for line in LEDGER.read_text().splitlines())
    return [r for r in records if r.get('protocol') == 'converged']


def headline() -> str:
    """The headline table's student rows, from the ledger."""
    from benchmark_accuracy import interval, mean_std
    runs = {r['key']: r for r in ledger()}
    rows, tests = [], {}
    for row in ('Student alone', 'AVER', 'ClassroomKD'):
        tests[row] = {int(k.rsplit('seed', 1)[1]): r['test'] for k, r in runs.items()
                      if k.rsplit('/', 1)[0] == f'table/{row}'}
        if tests[row]:
            rows.append(f'{row} {mean_std(list(tests[row].values()), len(tests[row]))} %')
    if not rows:
        return (f'The headline table ({STUDENT_ITERS} iterations, 5 seeds) has no runs in the '
                'ledger yet.')
    text = (f'Headline table (docs/RESULTS.md, {LEDGER.relative_to(ROOT)}; {STUDENT_ITERS} '
            'iterations, '
            f"test top-1 over seeds): {'; '.join(rows)}.")
    seeds = sorted(set(tests['Student alone']) & set(tests.get('ClassroomKD', {})))
    if len(seeds) > 1:
        diffs = [tests['ClassroomKD'][s] - tests['Student alone'][s] for s in seeds]
        low, high = interval(diffs)
        text += (f' ClassroomKD minus the student alone, paired over {len(seeds)} seeds: '
                 f'{mean_std(diffs, len(diffs))} points, 95 % interval [{low:+.2f}, {high:+.2f}].')
    return text


def table(demo: Demo, results: List[Result]) -> str:
    rows = [f'{demo.data}:', '', '| model | role | test top-1 (%) | time (s) | checkpoint |',
            '| --- | --- | --- | --- | --- |']
    rows += [f'| {r.job.config} | {r.job.role} | {r.accuracy:.2f} | {r.seconds:.0f} | '
             f'{r.checkpoint.relative_to(ROOT)} |' for r in results]
    return '\n'.join(rows)


def verdict(results: List[Result]) -> str:
    """One sentence on what the table shows (one seed: say so)."""
    by_role = {r.job.role: r for r in results}
    alone, taught = by_role['student alone'], by_role['student in the classroom']
    teacher = by_role['teacher']
    gain = taught.accuracy - alone.accuracy
    direction = 'above' if gain > 0 else 'below' if gain < 0 else 'level with'
    return (f'On this run the student in the classroom ends {abs(gain):.2f} points {direction} '
            f'the student trained alone on the same budget ({taught.accuracy:.2f}% against '
            f'{alone.accuracy:.2f}%; the teacher has {teacher.accuracy:.2f}%). This is one '
            'seed; docs/RESULTS.md compares them, and the baselines, over seeds.')


def fashion_mnist_available() -> bool:
    from classroomkd_plugin.datasets.fashion_mnist import (FashionMNISTUnavailable,
                                                           prepare_fashion_mnist)
    try:
        prepare_fashion_mnist(ROOT / 'data' / 'fashion_mnist')
    except FashionMNISTUnavailable as error:
        print(f'{error}\n\nFalling back to the demo on the handwritten digits.\n', flush=True)
        return False
    return True


def main() -> None:
    start = time.time()
    demo = FASHION_MNIST if fashion_mnist_available() else DIGITS
    jobs = min(2, os.cpu_count() or 1)
    threads = 1 if jobs > 1 else None
    with ThreadPoolExecutor(jobs) as pool:  # two trainings at a time, one per core
        if all('/' in job.checkpoint for job in demo.mentors):  # committed: nothing to wait for
            classroom_run = pool.submit(train_and_test, demo, demo.classroom, threads)
            student_run = pool.submit(train_and_test, demo, demo.student, threads)
            mentors = [pool.submit(train_and_test, demo, job, threads).result()
                       for job in demo.mentors]
            classroom = classroom_run.result()
        else:
            mentor_runs = [pool.submit(train_and_test, demo, job, threads)
                           for job in demo.mentors]
            student_run = pool.submit(train_and_test, demo, demo.student, threads)
            mentors = [run.result() for run in mentor_runs]
            # the classroom waits for every mentor, then takes the cores the student leaves
            classroom = train_and_test(demo, demo.classroom, threads=None)
        results = mentors + [student_run.result(), classroom]
    print('\n' + table(demo, results) + '\n')
    print(verdict(results))
    if demo is FASHION_MNIST:
        print(headline())
    print(f'\nLogs: work_dirs/<model>/<timestamp>/. Rank plot of the classroom: '
          f'{plot_ranks(demo)}\nTotal {time.time() - start:.0f} s.')


def plot_ranks(demo: Demo) -> str:
    out = ROOT / 'work_dirs' / demo.classroom.config / 'ranks.png'
    subprocess.run([sys.executable, str(ROOT / 'tools' / 'plot_ranks.py'),
                    str(out.parent), '--out', str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return str(out.relative_to(ROOT))


if __name__ == '__main__':
    main()
