"""Write the classification ablation configs, ``configs/cls/ablations/``, from the rows below.

Every row is one cell of the paper's ablations (Sarode et al., arXiv 2409.20237) or of the
extra comparisons, as a config that inherits a classroom and changes only what the row names:
fields of ``model.distill_loss`` and/or the mentor list. The written files are committed;
``tests/test_ablation_configs.py`` checks that they equal this tool's output and that each
differs from its classroom in exactly its row's fields. What every row is and where its
settings come from: docs/strategies.md, "Ablation configs".

Usage:
    python tools/generate_ablations.py          # (re)write configs/cls/ablations/
    python tools/generate_ablations.py --check  # exit 1 if the committed files differ
"""
import argparse
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / 'configs' / 'cls' / 'ablations'

Mentor = Tuple[Tuple[str, str], ...]  # a mentor dict as (key, value) pairs, in order


def cifar_mentor(arch: str) -> Mentor:
    """A mentor as the CIFAR classrooms name it: pre-trained by its mentors/ config."""
    return (('name', arch), ('config', f'configs/cls/_base_/models/{arch}.py'),
            ('checkpoint', f'work_dirs/{arch}_cifar100/epoch_240.pth'))


def efficientnet_b0(name: str, checkpoint: str) -> Mentor:
    return (('name', name), ('config', 'configs/cls/_base_/models/efficientnet_b0.py'),
            ('checkpoint', f'work_dirs/efficientnet_b0_cifar100/{checkpoint}.pth'))


def efficientnet_b0_peer(top1: str) -> Mentor:
    """The checkpoint of the EfficientNet-B0 run closest to this validation top-1 (%)."""
    return efficientnet_b0(f"efficientnet_b0_{top1.replace('.', '_')}", f'top1_{top1}')


@dataclass(frozen=True)
class Row:
    """One ablation config: ``<name>_<base>.py`` inherits ``classroom_<base>.py``."""
    name: str
    base: str
    comment: str
    loss: Dict[str, Any] = field(default_factory=dict)  # model.distill_loss fields it sets
    mentors: Tuple[Mentor, ...] = ()  # the mentor list it sets; empty: the base's

    @property
    def filename(self) -> str:
        return f'{self.name}_{self.base}.py'


VGG13 = 'mobilenetv2_vgg13_cifar100'  # the paper's ablation classroom (Tables 3, Figure 3)
RESNET50 = 'mobilenetv2_resnet50_cifar100'  # the authors' Figure 4 grid, Table 5
EFFICIENTNET = 'mobilenetv2_efficientnet_b0_cifar100'  # Table 4
RESNET56 = 'resnet20_resnet56_cifar100'  # Table 5
RESNET110 = 'resnet20_resnet110_cifar100'  # the extra comparisons
CIFAR_CLASSROOMS = (  # the ten CIFAR-100 classrooms of Appendix A, Table 6's Method B
    'resnet20_resnet110_cifar100', 'resnet32_resnet110_cifar100', 'resnet20_resnet56_cifar100',
    'vgg8_vgg13_cifar100', 'mobilenetv2_vgg13_cifar100', 'shufflenetv2_resnet32x4_cifar100',
    'shufflenetv1_wrn_40_2_cifar100', 'shufflenetv1_resnet32x4_cifar100',
    'mobilenetv2_resnet50_cifar100', 'wrn_16_2_wrn_40_2_cifar100')

BASE_T0 = 12.0  # every base classroom's T0
# The authors' runs without Mentoring (--no_mentor, --no_ask) use t = 1 + 0 * T0 = 1.
AUTHORS_NO_MENTORING_T = 1.0
NO_ADAPTATION = dict(knowledge_filtering=False, mentoring=False)
FIG4_TEACHERS = ('resnet50', 'vgg13', 'wrn_40_2')  # in the order the authors add them
FIG4_PEERS = ('resnet8', 'resnet14', 'resnet20', 'shufflenetv1', 'shufflenetv2')
FIG3_T0 = (4, 8, 20)  # with the base's 12: the T0 values of the authors' configs
TABLE5_T0 = (4, 8, 12, 20)
# The authors' DTKD configs (configs/classroom/dtkd/<name>_<T0>.yaml): name, our classroom with
# the same student, teacher and peers, T0 values
AUTHORS_DTKD = (('r20', RESNET56, TABLE5_T0), ('mv2', RESNET50, TABLE5_T0),
                ('sv1', 'shufflenetv1_wrn_40_2_cifar100', (12, )),
                ('vgg8', 'vgg8_vgg13_cifar100', (12, )))
AUTHORS_DTKD_NOT_STORED = {('r20', 8)}  # in the T0 grid, absent from their folder
WEAK_PEERS = ('23.62', '34.22', '44.48', '53.76', '57.86')
DIVERSE_PEERS = ('48.47', '60.23', '65.31', '67.25', '72.69')


def table3_rows() -> List[Row]:
    return [
        Row('table3a-student-alone', VGG13,
            'Table 3(a) row 1 (also Figure 4, 0 teachers and 0 peers): the student alone, no '
            'mentor loaded.', dict(strategy='nokd')),
        Row('table3a-teacher-only-t1', VGG13,
            'Table 3(a) row 2: the teacher alone (the authors\' mobv2_student/1t0p_vgg.yaml) '
            'without adaptation, at temperature 1 as the authors trained without adaptation.',
            dict(NO_ADAPTATION, base_temperature=AUTHORS_NO_MENTORING_T),
            (cifar_mentor('vgg13'), )),
        Row('table3a-no-adaptation-t1', VGG13,
            'Table 3(a) row 3 = Table 3(b) without KF and Mentoring, as the authors ran it '
            '(--no_ask): every mentor teaches with weight 1 at temperature 1, task weight 1.',
            dict(NO_ADAPTATION, base_temperature=AUTHORS_NO_MENTORING_T)),
        Row('table3b-no-adaptation', VGG13,
            'Table 3(b) without KF and Mentoring, our variant: every mentor teaches with weight 1 '
            'at T0 = 12, task weight 1.', dict(NO_ADAPTATION)),
        Row('table3b-kf-only-t1', VGG13,
            'Table 3(b) KF without Mentoring, as the authors ran it (--ask --no_mentor): the '
            'mentors KF keeps teach with weight r_m at temperature 1.',
            dict(mentoring=False, base_temperature=AUTHORS_NO_MENTORING_T)),
        Row('table3b-kf-only', VGG13,
            'Table 3(b) KF without Mentoring, our variant: the mentors KF keeps teach with '
            'weight r_m at T0 = 12.', dict(mentoring=False)),
        Row('table3b-mentoring-only', VGG13,
            'Table 3(b) Mentoring without KF: every mentor teaches with weight 1 at its t_m, '
            'task weight 1.', dict(knowledge_filtering=False)),
    ]


def figure3_rows() -> List[Row]:
    return [
        Row(f'fig3-t0-{t0}', VGG13, f'Figure 3: base temperature T0 = {t0} (the classroom '
            f'runs {BASE_T0:g}).', dict(base_temperature=float(t0))) for t0 in FIG3_T0
    ]


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def figure4_rows() -> List[Row]:
    rows = []
    for teachers in range(len(FIG4_TEACHERS) + 1):
        for peers in range(len(FIG4_PEERS) + 1):
            if (teachers, peers) in ((0, 0), (1, len(FIG4_PEERS))):
                continue  # the student alone (table3a-student-alone) and the classroom itself
            cell = f'{teachers}t{peers}p'
            rows.append(Row(
                f'fig4-{cell}', RESNET50,
                f'Figure 4: {plural(teachers, "teacher")} and {plural(peers, "peer")}, full '
                f"ClassroomKD, as the authors' mobv2_student/{cell}.yaml.",
                mentors=tuple(cifar_mentor(arch) for arch in
                              FIG4_TEACHERS[:teachers] + FIG4_PEERS[:peers])))
    return rows


def table4_rows() -> List[Row]:
    teacher = efficientnet_b0('efficientnet_b0', 'epoch_240')
    return [
        Row('table4b-weak-peers', EFFICIENTNET,
            'Table 4(b): weak peers, EfficientNet-B0 checkpoints at 23.62 to 57.86 % top-1 '
            "(the authors' efficientnet_ablation/1t5p_peers/1t5p_all_dumb.yaml).",
            mentors=(teacher, ) + tuple(map(efficientnet_b0_peer, WEAK_PEERS))),
        Row('table4b-diverse-peers', EFFICIENTNET,
            'Table 4(b): diverse peers, EfficientNet-B0 checkpoints at 48.47 to 72.69 % top-1 '
            "(the authors' efficientnet_ablation/1t5p_peers/1t5p_diverse.yaml).",
            mentors=(teacher, ) + tuple(map(efficientnet_b0_peer, DIVERSE_PEERS))),
    ]


def table5_rows() -> List[Row]:
    rows = []
    for base in (RESNET50, RESNET56):
        for t0 in TABLE5_T0:
            loss = dict(temperature='dtkd')
            if t0 != BASE_T0:
                loss['base_temperature'] = float(t0)
            rows.append(Row(
                f'table5-dtkd-t0-{t0}', base,
                f"Table 5: DTKD's temperatures in place of Mentoring at T0 = {t0} (the authors' "
                f'dtkd/ configs, --dtkd_mentor); Knowledge Filtering kept.', loss))
    return rows


def dtkd_authors_code_rows() -> List[Row]:
    rows = []
    for name, base, temperatures in AUTHORS_DTKD:
        for t0 in temperatures:
            loss = dict(temperature='dtkd', dtkd_variant='authors_code')
            if t0 != BASE_T0:
                loss['base_temperature'] = float(t0)
            stored = ', not stored' if (name, t0) in AUTHORS_DTKD_NOT_STORED else ''
            rows.append(Row(
                f'dtkd-authors-code-t0-{t0}', base,
                f"DTKD's temperatures in place of Mentoring as the authors' code runs them "
                f'(--dtkd_mentor, their dtkd/{name}_{t0}.yaml{stored}): each temperature '
                "follows the other model's max logit and the KL is scaled by the batch mean of "
                f'T_s * T_m; T0 = {t0}, Knowledge Filtering kept.', loss))
    return rows


def table6_rows() -> List[Row]:
    return [
        Row('table6-method-b', base,
            "Table 6: Method B, rank scores 0.1, 0.2, ... by ascending performance instead of "
            'K w / sum w.', dict(ranking='uniform')) for base in CIFAR_CLASSROOMS
    ]


def extra_rows() -> List[Row]:
    """The strategies and switches compared on one classroom (not paper ablation rows)."""
    return [
        Row(name, RESNET110, comment, loss) for name, comment, loss in [
            ('nokd', 'NOKD: the student trained alone (no mentor is loaded or run).',
             dict(strategy='nokd')),
            ('kd', 'KD (Hinton et al. 2015): the teacher (first mentor) alone at T0.',
             dict(strategy='kd')),
            ('aver', "AVER: the mean of every mentor's KD term at T0.", dict(strategy='aver')),
            ('dgkd', 'DGKD (Son et al. 2021): mentors dropped with probability 0.5 per '
             'iteration, the rest averaged.', dict(strategy='dgkd')),
            ('camkd', 'CA-MKD (Zhang et al. 2022): mentor weights (1 - softmax of their CE) / '
             '(K - 1), at T0.', dict(strategy='camkd')),
            ('dtkd-temperature', "DTKD's max-logit temperatures (Wei & Bai 2024) in place of "
             'Mentoring; Knowledge Filtering kept.', dict(temperature='dtkd')),
            ('sample-granularity', 'Rank the classroom on every sample instead of once per '
             'batch.', dict(granularity='sample')),
            ('arithmetic-performance', 'Batch performance as the arithmetic mean of the '
             'true-class probabilities instead of exp(-CE).', dict(performance='arithmetic')),
        ]
    ]


def all_rows() -> List[Row]:
    return (table3_rows() + figure3_rows() + figure4_rows() + table4_rows() + table5_rows()
            + dtkd_authors_code_rows() + table6_rows() + extra_rows())


def render_mentor(mentor: Mentor) -> str:
    (_, name), (_, config), (_, checkpoint) = mentor
    return (f'    dict(name={name!r}, config={config!r},\n'
            f'         checkpoint={checkpoint!r}),\n')


def render(row: Row) -> str:
    """The config file of ``row``."""
    lines = [textwrap.fill(row.comment, 98, initial_indent='# ', subsequent_indent='# '),
             f"_base_ = ['../classroom_{row.base}.py']"]
    loss = ', '.join(f'{key}={value!r}' for key, value in row.loss.items())
    if not row.mentors:
        line = f'model = dict(distill_loss=dict({loss}))'
        # within 100 columns, as the project's code
        lines.append(line if len(line) <= 100 else f'model = dict(distill_loss=dict(\n    {loss}))')
    else:
        mentors = ''.join(map(render_mentor, row.mentors))
        tail = f', distill_loss=dict({loss}))' if loss else ')'
        lines.append(f'model = dict(mentors=[\n{mentors}]{tail}')
    return '\n'.join(lines) + '\n'


def sync(out: Path, files: Dict[str, str], check: bool, what: str) -> int:
    """Make ``out``'s ``*.py`` files exactly ``files`` (name: text); with ``check``, only say
    which differ and return 1 if any does."""
    present = {path.name: path.read_text() for path in out.glob('*.py')}
    stale = sorted(set(present) - set(files))
    changed = sorted(name for name, text in files.items() if present.get(name) != text)
    if check:
        for name in stale + changed:
            print(f'out of date: {out / name}')
        return int(bool(stale or changed))
    out.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (out / name).unlink()
    for name in changed:
        (out / name).write_text(files[name])
    print(f'{len(files)} {what} in {out.relative_to(REPO)}: '
          f'{len(changed)} written, {len(stale)} removed')
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--check', action='store_true',
                        help='only compare: exit 1 if a file differs, is missing or is extra')
    args = parser.parse_args(argv)
    return sync(OUT, {row.filename: render(row) for row in all_rows()}, args.check,
                'ablation configs')

if __name__ == '__main__':
    sys.exit(main())
