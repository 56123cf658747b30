"""Plot the classroom over training from a work dir, in the style of the paper's Figure 6.

Usage:
    python tools/plot_ranks.py WORK_DIR [--out PNG]

Reads the newest ``*/vis_data/scalars.json`` under WORK_DIR (finished or still running; cls
and pose runs log the same keys) and draws, against the iteration, the rank r of the student
and of every mentor (top) and every mentor's temperature t (bottom). A mentor's line is solid
where it taught (``classroom/active_<mentor>`` >= 0.5 over the logging interval) and thin and
dashed where Knowledge Filtering kept it out, with those stretches shaded. Writes
WORK_DIR/ranks.png unless ``--out`` is given.
"""
import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

PREFIX = 'classroom/'
ACTIVE = 0.5  # a mentor taught in an interval when it was active in at least half the batches


@dataclass
class ClassroomLog:
    """The classroom statistics of a run, one entry per logged training iteration."""
    iters: np.ndarray
    student_rank: np.ndarray
    mentors: List[str]
    ranks: Dict[str, np.ndarray] = field(default_factory=dict)
    temperatures: Dict[str, np.ndarray] = field(default_factory=dict)
    active: Dict[str, np.ndarray] = field(default_factory=dict)


def find_scalars(work_dir: Path) -> Path:
    """The newest ``vis_data/scalars.json`` under ``work_dir``."""
    found = sorted(Path(work_dir).glob('**/vis_data/scalars.json'),
                   key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}: is it the '
                                'work_dir of an MMEngine run that has logged at least once?')
    return found[-1]


def read_classroom(path: Path) -> ClassroomLog:
    """The classroom statistics of a scalars.json (one JSON object per line). Validation
    lines and lines still being written by a running job are skipped."""
    rows = []
    for line in Path(path).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if f'{PREFIX}r_s' in row and 'iter' in row:
            rows.append(row)
    if not rows:
        raise ValueError(f'{path} holds no {PREFIX}r_s: was the run trained with a '
                         "ClassroomDistiller and custom_hooks=[dict(type='ClassroomHook')] "
                         "(strategy 'nokd' ranks nothing)?")
    # mentors in logging order (the teacher first), from every line: a line may lack some
    mentors: List[str] = []
    for row in rows:
        for key in row:
            if key.startswith(f'{PREFIX}r_') and key != f'{PREFIX}r_s':
                name = key[len(f'{PREFIX}r_'):]
                if name not in mentors:
                    mentors.append(name)

    def series(key: str) -> np.ndarray:
        return np.array([row.get(key, np.nan) for row in rows], dtype=float)

    return ClassroomLog(
        iters=series('iter'),
        student_rank=series(f'{PREFIX}r_s'),
        mentors=mentors,
        ranks={m: series(f'{PREFIX}r_{m}') for m in mentors},
        temperatures={m: series(f'{PREFIX}t_{m}') for m in mentors},
        active={m: series(f'{PREFIX}active_{m}') for m in mentors})


def _mentor_line(ax, iters: np.ndarray, values: np.ndarray, active: np.ndarray, color,
                 label: str) -> None:
    """Solid where the mentor taught, thin and dashed where it did not."""
    taught = active >= ACTIVE
    ax.plot(iters, values, color=color, linestyle='--', linewidth=0.8, alpha=0.5)
    # a segment is solid when both of its ends taught
    solid = np.where(taught, values, np.nan)
    ax.plot(iters, solid, color=color, linewidth=1.8, label=label)
    lone = taught & ~np.roll(taught, 1) & ~np.roll(taught, -1)  # no solid segment to show it
    ax.plot(iters[lone], values[lone], color=color, linestyle='none', marker='o', markersize=3)


def _shade_inactive(ax, iters: np.ndarray, active: np.ndarray, color) -> None:
    """Shade the intervals in which the mentor did not teach."""
    if len(iters) < 2:
        return
    edges = np.concatenate([[iters[0]], (iters[1:] + iters[:-1]) / 2, [iters[-1]]])
    for i in np.flatnonzero(~(active >= ACTIVE)):
        ax.axvspan(edges[i], edges[i + 1], color=color, alpha=0.06, linewidth=0)


def plot_ranks(log: ClassroomLog, out: Path, title: Optional[str] = None) -> Path:
    """Draw ranks (top) and temperatures (bottom) and save the PNG."""
    fig, (ax_rank, ax_temp) = plt.subplots(2, 1, sharex=True, figsize=(9, 6.5),
                                           gridspec_kw=dict(height_ratios=[3, 2]))
    colors = plt.get_cmap('tab10')
    for k, mentor in enumerate(log.mentors):
        color = colors(k % 10)
        label = f'{mentor} (teacher)' if k == 0 else mentor
        active = log.active[mentor]
        _mentor_line(ax_rank, log.iters, log.ranks[mentor], active, color, label)
        _mentor_line(ax_temp, log.iters, log.temperatures[mentor], active, color, label)
        _shade_inactive(ax_rank, log.iters, active, color)
    ax_rank.plot(log.iters, log.student_rank, color='black', linewidth=2.4, label='student')
    ax_rank.plot([], [], color='grey', linestyle='--', linewidth=0.8,
                 label='not teaching (shaded)')
    ax_rank.set_ylabel('rank r')
    ax_rank.legend(loc='best', fontsize=8, ncol=2)
    ax_rank.grid(alpha=0.3)
    ax_temp.set_ylabel('temperature t')
    ax_temp.set_xlabel('iteration')
    ax_temp.grid(alpha=0.3)
    if title:
        ax_rank.set_title(title)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: Optional[Sequence[str]] = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', type=Path, help='the work dir of a classroom run')
    parser.add_argument('--out', type=Path, help='the PNG to write (default WORK_DIR/ranks.png)')
    args = parser.parse_args(argv)
    try:
        scalars = find_scalars(args.work_dir)
        log = read_classroom(scalars)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f'plot_ranks: {error}')
    out = plot_ranks(log, args.out or args.work_dir / 'ranks.png',
                     title=f'{args.work_dir.resolve().name} ({scalars.parent.parent.name})')
    print(f'{out} ({len(log.iters)} points, {len(log.mentors)} mentors, from {scalars})')
    return out


if __name__ == '__main__':
    main()
