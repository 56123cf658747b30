"""ClassroomKD against its baselines and ablations on real data (Fashion-MNIST), over seeds.

The classrooms of `configs/cls/fashion_mnist/` (the CPU protocol, docs/RESULTS.md), or with
``--protocol converged`` those of its ``converged/`` folder (models trained to their plateau,
the headline table), or with ``--protocol full`` those of ``full/`` (30 epochs, for a GPU).
Stages, in order, each resumable: every finished run appends one line to the ledger
(``docs/results/fashion_mnist.jsonl``, committed), and a run the ledger holds is not run again,
so the report is rebuilt from the ledger alone (``--stages`` empty):

    mentors   every mentor alone over the seeds; seed 0 is the checkpoint the classrooms use
              (converged: exported to checkpoints/fashion_mnist/, committed)
    choices   the validation grid (val only): the lr of the student (the configs hold the
              winner), the student alone at 2B (converged: the plateau check) or the mentors'
              lr, and T0 for each method (the table uses each one's best)
    table     every row over the seeds: val and test top-1, training time

    python tools/benchmark_accuracy.py [--protocol converged] [--stages mentors choices table]
        [--seeds 0 1 2 3 4] [--only 'Student alone' 'AVER'] [--jobs 2] [--out FILE.md]

With ``--jobs N`` runs go N at a time, each on its own core with one thread. In the converged
and full protocols a classroom's runs on a seed share one ``mentor_cache``: the first fills it,
the others replay the mentors. At the end it prints Markdown tables of everything run so far.
"""
import argparse
import copy
import fnmatch
import hashlib
import json
import math
import os
import platform
import queue
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FMNIST = 'configs/cls/fashion_mnist'
# converged: mentors and student trained to their plateau, the student on a transfer set;
# full: the CPU protocol on a GPU's budget (both written by tools/generate_fmnist_full.py)
PROTOCOLS = ('cpu', 'converged', 'full')
# every finished run, one JSON line: committed, so that the table outlives a session
LEDGER = ROOT / 'docs' / 'results' / 'fashion_mnist.jsonl'
STUDENT = 'resnet8'
CLASSROOMS = dict(main='classroom_resnet8', weak='classroom_resnet8_weak')
LEARNING_RATES = (0.05, 0.1, 0.2)
# converged: 0.05 was the worst at B = 1280 and 0.2, the largest, the best: the grid moves up
CONVERGED_RATES = (0.4, 0.8, 1.6)
# converged: every method's lr is chosen too, with its T0 (at the student alone's lr 0.8 the
# KD terms' larger early gradients stalled seeds of KD and AVER, and every ClassroomKD run):
# 5 lrs x 2 T0 for every method (0.1 and 0.05 added as the smallest kept winning: ClassroomKD
# sums its mentors' terms, about 3 times AVER's mean)
METHOD_RATES = (0.05, 0.1, 0.2, 0.4, 0.8)
TEMPERATURES = (4.0, 12.0)
# Every method gets its own T0 on the same grid; ClassroomKD's ablations take ClassroomKD's.
# DTKD's temperatures peak at 2 T0: T0 means something else there, so it is chosen apart
DTKD_AUTHORS = dict(temperature='dtkd', dtkd_variant='authors_code')
FAMILIES = dict(kd=dict(strategy='kd'), aver=dict(strategy='aver'), dgkd=dict(strategy='dgkd'),
                camkd=dict(strategy='camkd'), classroom=dict(), dtkd=dict(temperature='dtkd'),
                dtkd_authors=DTKD_AUTHORS, kd_dtkd=dict(strategy='kd', temperature='dtkd'))
# row: (ClassroomKDLoss overrides, the family whose T0 it uses); the weak classroom repeats
# every row but KD from the teacher alone, which does not involve the weak mentor
METHODS = {
    'KD (teacher only)': (dict(strategy='kd'), 'kd'),
    'AVER': (dict(strategy='aver'), 'aver'),
    'DGKD': (dict(strategy='dgkd'), 'dgkd'),
    'CA-MKD': (dict(strategy='camkd'), 'camkd'),
    'ClassroomKD': (dict(), 'classroom'),
    'ClassroomKD without Knowledge Filtering': (dict(knowledge_filtering=False), 'classroom'),
    'ClassroomKD without Mentoring': (dict(mentoring=False), 'classroom'),
    # neither module (the paper's Table 3(b) first row): AVER but for summing, not averaging
    'ClassroomKD without Knowledge Filtering and Mentoring': (
        dict(knowledge_filtering=False, mentoring=False), 'classroom'),
    'ClassroomKD, Method B ranking': (dict(ranking='uniform'), 'classroom'),
    'ClassroomKD, sample granularity': (dict(granularity='sample'), 'classroom'),
    'ClassroomKD, DTKD temperatures': (dict(temperature='dtkd'), 'classroom'),
    'ClassroomKD, DTKD temperatures, own T0': (dict(temperature='dtkd'), 'dtkd'),
    # one change each from the DTKD row above, at the same lr and T0: why it collapses
    'ClassroomKD, DTKD temperatures, task weight 1': (
        dict(temperature='dtkd', task_weighting=False), 'classroom'),
    'KD (teacher only), DTKD temperatures': (dict(strategy='kd', temperature='dtkd'), 'kd'),
    # DTKD as the authors' code runs it (docs/strategies.md), and DTKD where its own paper
    # uses it: one teacher, the task loss unweighted
    "ClassroomKD, DTKD temperatures (authors' code), own T0": (DTKD_AUTHORS, 'dtkd_authors'),
    'KD (teacher only), DTKD temperatures, own T0': (dict(strategy='kd', temperature='dtkd'),
                                                     'kd_dtkd'),
    'ClassroomKD, DTKD temperatures, task weight 1, own T0': (
        dict(temperature='dtkd', task_weighting=False), 'dtkd'),
}
WEAK = '+ weak mentor: '
SHARED_ROWS = ('Student alone', 'KD (teacher only)')  # rows of both classrooms
# ClassroomKD with lazy mentors (docs/mentor_passes.md): only in the weak classroom, the one
# where a mentor is silent for most of the run (in the other, on the CPU protocol, the student
# ranks below every mentor throughout, so nothing would be skipped)
LAZY = WEAK + 'ClassroomKD, lazy mentors (k = 4)'


PLATEAU = 'student alone, 2B'
CACHE_PASSES = (1, 4)  # mentor_cache(passes=E) rows, against ClassroomKD's every pass
# ClassroomKD on the transfer set with the crop augmentation: the converged protocol's
# reference for E (its own transfer set, not augmented, has the same view in every pass)
AUGMENTED = 'ClassroomKD, crop-augmented transfer set'

# rows run first, so that an interrupted table still holds the comparisons that matter most
FIRST = ('Student alone', 'KD (teacher only)', 'AVER', 'ClassroomKD', AUGMENTED,
         'ClassroomKD, mentor_cache passes=1', 'ClassroomKD, mentor_cache passes=4',
         WEAK + 'ClassroomKD',
         WEAK + 'ClassroomKD without Knowledge Filtering', WEAK + 'AVER', LAZY, 'CA-MKD', 'DGKD')


def config(name: str, protocol: str) -> str:
    """The config of a model or classroom of ``configs/cls/fashion_mnist/`` in ``protocol``."""
    return (f'{FMNIST}/{name}_fmnist.py' if protocol == 'cpu' else
            f'{FMNIST}/{protocol}/{name}_fmnist_{protocol}.py')


def table_rows(chosen: Dict[str, Tuple[Optional[float], float]],
               protocol: str) -> Dict[str, dict]:
    """Every row of the table whose family's (lr, T0) is chosen (lr None: the config's), a run
    spec without its seed, in the order they run."""
    rows = {'Student alone': dict(config=config(STUDENT, protocol))}
    for classroom, prefix in (('main', ''), ('weak', WEAK)):
        for name, (loss, family) in METHODS.items():
            if (prefix and loss.get('strategy') == 'kd') or family not in chosen:
                continue
            lr, t0 = chosen[family]
            rows[prefix + name] = dict(config=config(CLASSROOMS[classroom], protocol),
                                       loss=dict(loss, base_temperature=t0))
            if lr:
                rows[prefix + name]['lr'] = lr
    if WEAK + 'ClassroomKD' in rows:
        rows[LAZY] = dict(rows[WEAK + 'ClassroomKD'], model=dict(lazy_mentors=4))
    if protocol != 'cpu' and 'ClassroomKD' in rows:  # what cycling E stored passes costs
        every = rows.setdefault(AUGMENTED, dict(rows['ClassroomKD'], augment=True)) if (
            protocol == 'converged') else rows['ClassroomKD']
        for passes in CACHE_PASSES:
            rows[f'ClassroomKD, mentor_cache passes={passes}'] = dict(
                every, cache=dict(passes=passes))
    unique = {}  # a row that would repeat another's runs is left out (DTKD's own T0 of 12)
    for name in sorted(rows, key=_run_order):
        if rows[name] not in unique.values():
            unique[name] = rows[name]
    return unique


def _run_order(row: str) -> tuple:
    return (row not in FIRST, FIRST.index(row) if row in FIRST else 0)


def choice_rows(protocol: str) -> Dict[str, dict]:
    """The validation grid: the lr of the student and of a mentor, and T0 (converged: lr and T0)
    for each KD family."""
    rates = CONVERGED_RATES if protocol == 'converged' else LEARNING_RATES
    rows = {f'student alone, lr {lr}': dict(config=config(STUDENT, protocol), lr=lr)
            for lr in rates}
    if protocol == 'converged':  # the plateau: the student alone at B and at 2B
        rows[PLATEAU] = dict(config=config(STUDENT, protocol), budget=2)
    else:  # the converged mentors keep the lr chosen here
        for lr in LEARNING_RATES[1:]:
            rows[f'mentor resnet20, lr {lr}'] = dict(config=config('resnet20', protocol), lr=lr)
    for family, loss in FAMILIES.items():
        for lr in method_rates(protocol):
            for t0 in TEMPERATURES:
                rows[grid_row(family, lr, t0)] = dict(config=config(CLASSROOMS['main'], protocol),
                                                      loss=dict(loss, base_temperature=t0))
                if lr:
                    rows[grid_row(family, lr, t0)]['lr'] = lr
    return rows


def method_rates(protocol: str) -> tuple:
    """The lrs a method's grid tries; (None, ): the config's alone."""
    return METHOD_RATES if protocol == 'converged' else (None, )


def grid_row(family: str, lr: Optional[float], t0: float) -> str:
    return f'{family}, T0 {t0:g}' if lr is None else f'{family}, lr {lr:g}, T0 {t0:g}'


def mentor_runs(protocol: str) -> Dict[str, dict]:
    """Each mentor of the weak classroom (the main one's and the weak one): its config and the
    checkpoint the classrooms load (seed 0's)."""
    from mmengine.config import Config
    mentors = Config.fromfile(ROOT / config(CLASSROOMS['weak'], protocol)).model.mentors
    return {m.name: dict(config=m.config, checkpoint=m.checkpoint) for m in mentors}


# ------------------------------------------------------------------------------------------
# One run, in its own process


def run_config(spec: dict):
    """``spec['config']`` with the run's overrides and seed."""
    from mmengine.config import Config
    cfg = Config.fromfile(ROOT / spec['config'])
    if spec.get('loss'):
        cfg.model.distill_loss.update(spec['loss'])
    cfg.model.update(spec.get('model', {}))
    if spec.get('lr'):
        cfg.optim_wrapper.optimizer.lr = spec['lr']
    if spec.get('augment'):  # the CPU protocol's crop, on the transfer set
        cfg.train_dataloader.dataset.dataset.pipeline = Config.fromfile(
            ROOT / config(STUDENT, 'cpu')).train_dataloader.dataset.dataset.pipeline
    if spec.get('budget'):  # the same schedule, stretched
        iters = cfg.train_cfg.max_iters * spec['budget']
        cfg.train_cfg.update(max_iters=iters, val_interval=iters)
        cfg.param_scheduler.T_max = iters
        cfg.default_hooks.checkpoint.interval = iters
    cfg.randomness = dict(seed=spec['seed'])
    if cfg.model.type == 'ClassroomDistiller':  # the mentors are known: no mentor check
        cfg.custom_hooks = [dict(type='ClassroomHook')]
        if spec.get('mentor_cache'):
            cfg.model.mentor_cache = dict(dir=spec['mentor_cache'], **spec.get('cache', {}))
            cfg.custom_hooks.insert(0, dict(type='MentorCacheHook'))
    cfg.work_dir = spec['work_dir']
    cfg.log_level = 'WARNING'
    return cfg


def run_one(spec: dict) -> dict:
    """Train ``spec['config']`` with its overrides and seed; evaluate on val (and test)."""
    import logging

    import torch
    from mmengine.logging import MMLogger
    from mmengine.runner import Runner

    import classroomkd_plugin  # noqa: F401
    MMLogger.get_instance('mmengine', log_level=logging.WARNING)
    cfg = run_config(spec)
    start = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_seconds = time.time() - start
    result = dict(val=runner.val()['accuracy/top1'], train_seconds=round(train_seconds, 1),
                  config_sha256=hashlib.sha256(cfg.pretty_text.encode()).hexdigest())
    classroom = classroom_log(runner.message_hub)
    if classroom:
        result['classroom'] = classroom
    if spec.get('with_test'):
        result['test'] = runner.test()['accuracy/top1']
    if spec.get('export'):  # the weights alone, to commit: what a classroom loads
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        Path(spec['export']).parent.mkdir(parents=True, exist_ok=True)
        torch.save({'state_dict': model.state_dict()}, spec['export'])
        result['export_sha256'] = hashlib.sha256(Path(spec['export']).read_bytes()).hexdigest()
    return result


def classroom_log(message_hub) -> Dict[str, List[float]]:
    """What ClassroomHook logged (ranks, temperatures, weights), each as its mean over the
    first and over the last quarter of training: what the ledger keeps of a run's log."""
    summary = {}
    for key, buffer in message_hub.log_scalars.items():
        if key.startswith('train/classroom/'):
            values = buffer.data[0]
            quarter = max(1, len(values) // 4)
            summary[key[len('train/classroom/'):]] = [
                round(float(values[:quarter].mean()), 4), round(float(values[-quarter:].mean()), 4)]
    return summary


def machine() -> str:
    cpu = next((line.split(':', 1)[1].strip() for line in
                Path('/proc/cpuinfo').read_text().splitlines() if line.startswith('model name')),
               platform.processor())
    return f'{platform.node()}: {cpu}, {os.cpu_count()} cores'


def commit() -> str:
    done = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True)
    return done.stdout.strip() or 'unknown'



# ------------------------------------------------------------------------------------------
# Scheduling runs and keeping their results


class Bench:
    """Runs specs, one process each, and keeps their results in the ledger: a run the ledger
    holds for this protocol is not run again."""

    def __init__(self, work_dir: Path, jobs: int, protocol: str, ledger: Path = LEDGER):
        self.work_dir = work_dir
        self.jobs = jobs
        self.protocol = protocol
        self.free_slots: 'queue.SimpleQueue[int]' = queue.SimpleQueue()
        for slot in range(jobs):
            self.free_slots.put(slot)
        self.results_file = ledger
        self.results: Dict[str, dict] = {}
        if self.results_file.is_file():
            for line in self.results_file.read_text().splitlines():
                record = json.loads(line)
                if record.get('protocol') == protocol:
                    self.results[record['key']] = record

    def run_all(self, specs: List[dict]) -> None:
        todo = [s for s in specs if s['key'] not in self.results]
        print(f'{len(specs) - len(todo)} runs done already, {len(todo)} to run', flush=True)
        with ThreadPoolExecutor(self.jobs) as pool:
            list(pool.map(self._run, todo))

    def _run(self, spec: dict) -> None:
        slot = self.free_slots.get()  # the core a finished run left
        try:
            self._run_on(spec, slot)
        finally:
            self.free_slots.put(slot)

    def _run_on(self, spec: dict, slot: int) -> None:
        cmd = [sys.executable, __file__, '--worker', json.dumps(spec)]
        env = dict(os.environ)
        if self.jobs > 1:  # one core and one thread per run
            cores = sorted(os.sched_getaffinity(0))
            cmd = ['taskset', '-c', str(cores[slot % len(cores)])] + cmd
            env['OMP_NUM_THREADS'] = '1'
        start = time.time()
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode:
            print(f"FAILED {spec['key']}:\n{done.stdout[-2000:]}{done.stderr[-3000:]}",
                  flush=True)
            return
        result = json.loads(done.stdout.strip().splitlines()[-1])
        record = dict(spec, **result, protocol=self.protocol,
                      wall_seconds=round(time.time() - start, 1), commit=commit(),
                      machine=machine(), jobs=self.jobs)
        for where in ('work_dir', 'mentor_cache', 'export'):  # this machine's paths
            if where in record:
                record[where] = os.path.relpath(record[where], ROOT)
        self.results[spec['key']] = record
        self.results_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.results_file, 'a') as f:  # one write of one line: appends never mix
            f.write(json.dumps(record, sort_keys=True) + '\n')
        scores = ', '.join(f'{k} {record[k]:.2f}%' for k in ('val', 'test') if k in record)
        print(f"{spec['key']}: {scores} ({record['wall_seconds']:.0f} s)", flush=True)

    def values(self, stage: str, row: str, split: str, seeds) -> List[float]:
        keys = [f'{stage}/{row}/seed{s}' for s in seeds]
        return [self.results[k][split] for k in keys if k in self.results]


def specs_for(stage: str, rows: Dict[str, dict], seeds, work_dir: Path, test: bool,
              cached: bool = False) -> List[dict]:
    """With ``cached``, a classroom's rows on a seed share one ``mentor_cache``: the first run
    fills it, the others replay it."""
    specs = []
    for row, spec in rows.items():
        for seed in seeds:
            slug = ''.join(c if c.isalnum() else '_' for c in row).strip('_')
            specs.append(dict(copy.deepcopy(spec), key=f'{stage}/{row}/seed{seed}', seed=seed,
                              work_dir=str(work_dir / stage / f'{slug}_seed{seed}'),
                              with_test=test))
            classroom = Path(spec['config']).stem
            if cached and 'classroom' in classroom and 'lazy_mentors' not in spec.get('model', {}):
                layout = ''.join(f'_{k}{v}' for k, v in sorted(spec.get('cache', {}).items()))
                layout += '_augmented' if spec.get('augment') else ''
                # KD builds the teacher alone: a cache of that one mentor
                layout += '_teacher' if spec.get('loss', {}).get('strategy') == 'kd' else ''
                specs[-1]['mentor_cache'] = str(work_dir / 'mentor_cache' /
                                                f'{classroom}_seed{seed}{layout}')
    return specs


def mentor_specs(seeds, work_dir: Path, protocol: str) -> List[dict]:
    """Seed 0 of each mentor trains the checkpoint the classrooms load: its work dir in the
    CPU and full protocols, the committed weights (exported) in the converged one."""
    specs = []
    for name, mentor in mentor_runs(protocol).items():
        for seed in seeds:
            spec = dict(config=mentor['config'], key=f'mentors/{name}/seed{seed}', seed=seed,
                        work_dir=str(work_dir / 'mentors' / f'{name}_seed{seed}'),
                        with_test=True)
            if seed == 0 and protocol == 'converged':
                spec['export'] = str(ROOT / mentor['checkpoint'])
            elif seed == 0:
                spec['work_dir'] = str(Path(mentor['checkpoint']).parent)
            specs.append(spec)
    return specs


def chosen_settings(bench: 'Bench', seeds) -> Dict[str, Tuple[Optional[float], float]]:
    """The (lr, T0) with the best mean val top-1 in the grid, for each family whose grid has
    run on every seed."""
    chosen = {}
    grid = [(lr, t0) for lr in method_rates(bench.protocol) for t0 in TEMPERATURES]
    for family in FAMILIES:
        means = {}
        for lr, t0 in grid:
            values = bench.values('choices', grid_row(family, lr, t0), 'val', seeds)
            if len(values) == len(seeds):
                means[lr, t0] = statistics.mean(values)
        if len(means) == len(grid):
            chosen[family] = max(means, key=means.get)
    return chosen


def only(rows: Dict[str, dict], patterns: Optional[List[str]]) -> Dict[str, dict]:
    """The rows whose name matches one of the shell patterns (all without patterns)."""
    return {name: row for name, row in rows.items()
            if not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)}


# ------------------------------------------------------------------------------------------
# Report


def mean_std(values: List[float], expected: Optional[int] = None) -> str:
    """Mean ± std; the number of seeds when it is not the ``expected`` one."""
    if not values:
        return 'not run'
    text = (f'{values[0]:.2f}' if len(values) == 1 else
            f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}')
    if len(values) != expected:
        text += f" ({len(values)} seed{'s' if len(values) > 1 else ''})"
    return text


# Student's t, two-sided 95 %, by degrees of freedom; beyond 20, the normal 1.96
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
        9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120,
        17: 2.110, 18: 2.101, 19: 2.093, 20: 2.086}
PLATEAU_TOLERANCE = 0.3  # points of val top-1 between B and 2B


def interval(diffs: List[float]) -> Tuple[float, float]:
    """The 95 % interval of the mean of paired differences (Student's t, n - 1 dof)."""
    mean = statistics.mean(diffs)
    half = T975.get(len(diffs) - 1, 1.96) * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean - half, mean + half


def pairing_ratio(a: List[float], b: List[float]) -> float:
    """Std of the paired differences over the std an unpaired difference would have: how much
    of the seed noise sharing a seed's initialisation, order and views removes."""
    paired = statistics.stdev([x - y for x, y in zip(a, b)])
    unpaired = math.sqrt(statistics.variance(a) + statistics.variance(b))
    return paired / unpaired if unpaired else math.nan


def plateau(b: List[float], b2: List[float]) -> Tuple[float, bool]:
    """Mean val top-1 at 2B minus at B, and whether it is within the tolerance."""
    difference = statistics.mean(b2) - statistics.mean(b)
    return difference, abs(difference) < PLATEAU_TOLERANCE


def _protocol_lines(bench: 'Bench', seeds, choice_seeds, protocol: str) -> List[str]:
    """The converged protocol's evidence: the plateau and the mentors' margins."""
    from mmengine.config import Config
    student = Config.fromfile(ROOT / config(STUDENT, protocol))
    lr, iters = student.optim_wrapper.optimizer.lr, student.train_cfg.max_iters
    at_b = bench.values('choices', f'student alone, lr {lr}', 'val', choice_seeds)
    at_2b = bench.values('choices', PLATEAU, 'val', choice_seeds)
    lines = [f'Plateau of the student alone (lr {lr}, val, seeds {list(choice_seeds)}): ']
    if len(at_b) == len(at_2b) == len(choice_seeds):
        difference, reached = plateau(at_b, at_2b)
        lines[0] += (f'B = {iters} iterations {mean_std(at_b, len(at_b))}, 2B '
                     f'{mean_std(at_2b, len(at_2b))}: {difference:+.2f} points, '
                     f"{'within' if reached else 'NOT within'} {PLATEAU_TOLERANCE}.")
    else:
        lines[0] += 'not run yet.'
    alone = bench.values('table', 'Student alone', 'val', seeds) or at_b
    for name in mentor_runs(protocol):
        mentor = bench.values('mentors', name, 'val', [0])
        if mentor and alone:
            lines.append(f'- mentor {name} (the seed-0 checkpoint the classrooms load): '
                         f'{mentor[0]:.2f} % val, {mentor[0] - statistics.mean(alone):+.2f} '
                         'points over the student alone')
    return lines + ['']


def report(bench: 'Bench', seeds, choice_seeds, protocol: str) -> str:
    chosen = chosen_settings(bench, choice_seeds)
    described = ', '.join(f"{family} {grid_row('', lr, t0)[2:]}" for family, (lr, t0) in
                          chosen.items()) or 'none yet'
    setting = ''
    if protocol == 'converged':
        from mmengine.config import Config
        transfer = Config.fromfile(ROOT / config(STUDENT, protocol)).train_dataloader.dataset
        setting = ('mentors trained on the 50,000 training images, the student on a transfer '
                   f'set of the first {transfer.dataset.subset:,}, not augmented; ')
    lines = [f'Fashion-MNIST, {protocol} protocol, ResNet-8 student; {setting}top-1 (%), '
             f'mean ± std over seeds {list(seeds)}; chosen on val: {described}.', '']
    if protocol == 'converged':
        lines += _protocol_lines(bench, seeds, choice_seeds, protocol)
    lines += ['| model | val | test | training (s), mean |', '| --- | --- | --- | --- |']
    for name in mentor_runs(protocol):
        lines.append(_row(bench, 'mentors', name, seeds, f'mentor {name} alone'))
    rows = table_rows(chosen, protocol)
    # shown classroom by classroom, in the order of METHODS (they run in another order)
    rows = {name: rows[name] for name in ['Student alone'] + [
        prefix + method for prefix in ('', WEAK) for method in METHODS] + [LAZY, AUGMENTED] + [
            f'ClassroomKD, mentor_cache passes={passes}' for passes in CACHE_PASSES]
        if name in rows}
    for row in rows:
        lines.append(_row(bench, 'table', row, seeds, row))
    lines += ['', 'Paired differences, test top-1 on the same seeds (points): ClassroomKD of the '
              'same classroom minus each row (a mentor_cache passes=E row: ClassroomKD on the '
              'same views with every pass stored, minus it), mean ± std, its 95 % interval '
              '(Student\'s t); '
              'significant when the interval excludes 0. Pairing: the std of the paired '
              'differences over that of an unpaired difference (below 1: the shared seed '
              'removes noise).', '',
              '| row | ClassroomKD minus row | 95 % interval | significant | pairing | seeds |',
              '| --- | --- | --- | --- | --- | --- |']
    cycled = [f'ClassroomKD, mentor_cache passes={passes}' for passes in CACHE_PASSES]
    every_pass = AUGMENTED if AUGMENTED in rows else 'ClassroomKD'  # what E is measured on
    for prefix in ('', WEAK):
        for row in rows:
            same_classroom = row.startswith(WEAK) == bool(prefix) or row in SHARED_ROWS
            reference = every_pass if row in cycled else prefix + 'ClassroomKD'
            if row == reference or not same_classroom:
                continue
            pairs = []
            for seed in seeds:
                a, b = (bench.results.get(f'table/{r}/seed{seed}') for r in (reference, row))
                if a and b:
                    pairs.append((a['test'], b['test']))
            if pairs:
                diffs = [a - b for a, b in pairs]
                other = row[len(prefix):] if prefix and row.startswith(prefix) else row
                low, high = interval(diffs) if len(diffs) > 1 else (math.nan, math.nan)
                significant = 'yes' if low > 0 or high < 0 else 'no'
                ratio = (f'{pairing_ratio(*zip(*pairs)):.2f}' if len(pairs) > 2 else '')
                lines.append(f'| {reference} − {other} | {mean_std(diffs, len(diffs))} '
                             f'| [{low:+.2f}, {high:+.2f}] | {significant} | {ratio} '
                             f'| {len(diffs)} |')
    lines += _log_lines(bench, 'table', rows, seeds)
    lines += ['', f'Validation grid behind the choices (val top-1, seeds {list(choice_seeds)}):',
              '', '| run | val |', '| --- | --- |']
    for row in choice_rows(protocol):
        values = bench.values('choices', row, 'val', choice_seeds)
        if values:
            lines.append(f'| {row} | {mean_std(values, len(choice_seeds))} |')
    lines += _log_lines(bench, 'choices', choice_rows(protocol), choice_seeds)
    return '\n'.join(lines)


# a name, or a prefix (ending in _) of one name per mentor
LOGGED = {'r_s': 'r_s', 'w_s': 'w_s', 'mentor terms on': 'active_', 'mentor T': 't_',
          'student T': 'ts_'}


def _log_lines(bench: 'Bench', stage: str, rows, seeds) -> List[str]:
    """The classroom logs of the rows that have them: each quantity's mean over the first and
    over the last quarter of training (a mentor quantity: over the mentors too), averaged over
    the seeds; 'mentor terms on' is the share of (mentor, batch) terms Knowledge Filtering
    kept."""
    lines = []
    for row in rows:
        logs = [bench.results[k]['classroom'] for k in (f'{stage}/{row}/seed{s}' for s in seeds)
                if 'classroom' in bench.results.get(k, {})]
        if not logs:
            continue
        cells = []
        for name in LOGGED.values():
            pairs = [value for log in logs for key, value in log.items()
                     if key == name or name.endswith('_') and key.startswith(name)]
            cells.append(' → '.join(f'{statistics.mean(p[i] for p in pairs):.2f}'
                                    for i in (0, 1)) if pairs else '')
        lines.append(f"| {row} | {' | '.join(cells)} | {len(logs)} |")
    if not lines:
        return []
    return ['', 'Classroom logs (first quarter of training → last quarter, means over the '
            'seeds and the mentors; on the training batches):', '',
            f"| row | {' | '.join(LOGGED)} | seeds |", '| --- |' + ' --- |' * (len(LOGGED) + 1),
            *lines]


def _row(bench: 'Bench', stage: str, row: str, seeds, label: str) -> str:
    val = bench.values(stage, row, 'val', seeds)
    test = bench.values(stage, row, 'test', seeds)
    keys = [f'{stage}/{row}/seed{s}' for s in seeds]
    times = [bench.results[k]['train_seconds'] for k in keys if k in bench.results]
    time_text = f'{statistics.mean(times):.0f}' if times else ''
    return (f'| {label} | {mean_std(val, len(seeds))} | {mean_std(test, len(seeds))} '
            f'| {time_text} |')


# ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--stages', nargs='*', default=['mentors', 'choices', 'table'],
                        choices=['mentors', 'choices', 'table'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument('--choice-seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--jobs', type=int, default=1)
    parser.add_argument('--only', nargs='+', metavar='PATTERN',
                        help="run only the rows matching these shell patterns, e.g. 'AVER'")
    parser.add_argument('--protocol', choices=PROTOCOLS, default='cpu')
    parser.add_argument('--work-dir', type=Path,
                        help='default: work_dirs/benchmark_fmnist (cpu), _<protocol> (others)')
    parser.add_argument('--ledger', type=Path, default=LEDGER,
                        help='the runs done (read) and finished (appended); default: %(default)s')
    parser.add_argument('--out', type=Path, help='also write the report to this file')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_one(json.loads(args.worker))))
        return
    from classroomkd_plugin.datasets.fashion_mnist import prepare_fashion_mnist
    prepare_fashion_mnist(ROOT / 'data' / 'fashion_mnist')
    if args.work_dir is None:
        suffix = '' if args.protocol == 'cpu' else f'_{args.protocol}'
        args.work_dir = ROOT / 'work_dirs' / f'benchmark_fmnist{suffix}'
    args.work_dir.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.work_dir, args.jobs, args.protocol, args.ledger)
    cached = args.protocol != 'cpu'  # the CPU table's numbers predate mentor_cache
    start = time.time()
    for stage in args.stages:
        if stage == 'mentors':  # seed 0 first: the classrooms are taught by it
            for seeds in ([s for s in args.seeds if s == 0], [s for s in args.seeds if s != 0]):
                bench.run_all(mentor_specs(seeds, args.work_dir, args.protocol))
        elif stage == 'choices':
            rows = only(choice_rows(args.protocol), args.only)
            bench.run_all(specs_for('choices', rows, args.choice_seeds, args.work_dir,
                                    test=False, cached=cached))
        else:
            chosen = chosen_settings(bench, args.choice_seeds)
            waiting = sorted(set(FAMILIES) - set(chosen))
            if waiting:
                print(f'the grid of {waiting} has not run (choices stage): their rows wait')
            rows = only(table_rows(chosen, args.protocol), args.only)
            bench.run_all(specs_for('table', rows, args.seeds, args.work_dir, test=True,
                                    cached=cached))
    text = report(bench, args.seeds, args.choice_seeds, args.protocol)
    print('\n' + text + f'\n\n({time.time() - start:.0f} s)')
    if args.out:
        args.out.write_text(text + '\n')


if __name__ == '__main__':
    main()
