"""The ablation configs: the classification ones are the committed output of
``tools/generate_ablations.py`` and reproduce the paper's ablation rows as the authors set them
up; every ablation (classification and pose) inherits its classroom and changes exactly its
row's fields, nothing else in the whole config."""
import functools
import importlib.util
import inspect
from typing import Any, Dict, Iterator, Tuple

import pytest
from mmengine.config import Config

from classroomkd_plugin.models import ClassroomKDLoss
from conftest import REPO

LOSS_DEFAULTS = {name: p.default
                 for name, p in inspect.signature(ClassroomKDLoss).parameters.items()}
MISSING = object()


def load_generator():
    path = REPO / 'tools' / 'generate_ablations.py'
    spec = importlib.util.spec_from_file_location('generate_ablations', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = load_generator()
ROWS = {row.filename: row for row in generator.all_rows()}


@pytest.fixture(scope='module', autouse=True)
def remembered_scoped_bases():
    """MMEngine reads all of mmpretrain's ~170 metafiles to resolve each ``mmpretrain::``
    base (about a second per config); the ~80 configs loaded here resolve the same few."""
    from mmengine.config import utils
    lookup, found = utils._get_cfg_metainfo, {}

    def remembered(package_path: str, cfg_path: str) -> dict:
        key = package_path, cfg_path
        if key not in found:
            try:
                found[key] = lookup(package_path, cfg_path)
            except ValueError as error:  # a base config, not a model: the caller falls back
                found[key] = error
        if isinstance(found[key], ValueError):
            raise found[key]
        return found[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils, '_get_cfg_metainfo', remembered)
        yield


def differences(base: Any, other: Any, path: str = '') -> Iterator[Tuple[str, Any, Any]]:
    """(dotted path, base value, other value) of every leaf where the two configs differ; a
    list that changes length is one difference."""
    if isinstance(base, dict) and isinstance(other, dict):
        for key in list(base) + [k for k in other if k not in base]:
            yield from differences(base.get(key, MISSING), other.get(key, MISSING),
                                   f'{path}.{key}' if path else str(key))
    elif isinstance(base, (list, tuple)) and isinstance(other, (list, tuple)) \
            and len(base) == len(other):
        for i, (a, b) in enumerate(zip(base, other)):
            yield from differences(a, b, f'{path}.{i}')
    elif base != other:
        yield path, base, other


def test_the_difference_finder_sees_nested_changes():
    base = dict(model=dict(distill_loss=dict(type='L'), mentors=[dict(name='a')]), lr=0.1)
    other = dict(model=dict(distill_loss=dict(type='L', strategy='kd'), mentors=[dict(name='b')]),
                 lr=0.1)
    assert list(differences(base, other)) == [('model.distill_loss.strategy', MISSING, 'kd'),
                                              ('model.mentors.0.name', 'a', 'b')]


# ---------------------------------------------------------------- classification (generated)

def test_committed_configs_are_the_generator_output():
    committed = {p.name: p.read_text() for p in generator.OUT.glob('*.py')}
    assert sorted(committed) == sorted(ROWS)
    stale = [name for name, row in ROWS.items() if committed[name] != generator.render(row)]
    assert not stale, f'run python tools/generate_ablations.py: {stale}'
    assert generator.main(['--check']) == 0


@functools.lru_cache(maxsize=None)
def load_row(filename: str) -> Config:
    return Config.fromfile(generator.OUT / filename)


@pytest.fixture(scope='module')
def classrooms() -> Dict[str, dict]:
    return {base: Config.fromfile(REPO / 'configs' / 'cls' / f'classroom_{base}.py').to_dict()
            for base in sorted({row.base for row in ROWS.values()})}


@pytest.mark.parametrize('filename', sorted(ROWS), ids=lambda f: f[:-3])
def test_cls_ablation_changes_exactly_its_fields(classrooms, filename):
    row = ROWS[filename]
    base = classrooms[row.base]
    config = load_row(filename).to_dict()
    changed = {p: (a, b) for p, a, b in differences(base, config)
               if not p.startswith('model.mentors')}
    assert {p: b for p, (_, b) in changed.items()} == {
        f'model.distill_loss.{field}': value for field, value in row.loss.items()}
    for p, (a, b) in changed.items():  # each field moves away from what the base runs with
        assert b != (LOSS_DEFAULTS[p.split('.')[-1]] if a is MISSING else a), p

    mentors = config['model']['mentors']
    if not row.mentors:
        assert mentors == base['model']['mentors']
        return
    assert mentors != base['model']['mentors']
    assert mentors == [dict(mentor) for mentor in row.mentors]
    for mentor in mentors:  # a mentor of the base is unchanged; a new one is a shipped model
        same_name = [m for m in base['model']['mentors'] if m['name'] == mentor['name']]
        assert same_name in ([], [mentor])
        assert (REPO / mentor['config']).is_file()


def cells(prefix: str, base: str) -> Dict[str, Config]:
    return {row.name[len(prefix):]: load_row(name)
            for name, row in ROWS.items() if row.name.startswith(prefix) and row.base == base}


def test_table3_rows_as_the_authors_ran_them():
    rows = cells('table3', 'mobilenetv2_vgg13_cifar100')
    loss = {name: cfg.model.distill_loss for name, cfg in rows.items()}
    assert sorted(loss) == ['a-no-adaptation-t1', 'a-student-alone', 'a-teacher-only-t1',
                            'b-kf-only', 'b-kf-only-t1', 'b-mentoring-only',
                            'b-no-adaptation']
    assert loss['a-student-alone'].strategy == 'nokd'
    # The authors' runs without Mentoring use t = 1 + 0 * T0; our variants keep T0 = 12.
    for name, kf in [('a-teacher-only-t1', False), ('a-no-adaptation-t1', False),
                     ('b-kf-only-t1', True), ('b-no-adaptation', False), ('b-kf-only', True)]:
        assert loss[name].get('knowledge_filtering', True) is kf, name
        assert loss[name].mentoring is False, name
        assert loss[name].base_temperature == (1.0 if name.endswith('-t1') else 12.0), name
    assert loss['b-mentoring-only'].knowledge_filtering is False
    assert loss['b-mentoring-only'].get('mentoring', True) is True
    assert [m.name for m in rows['a-teacher-only-t1'].model.mentors] == ['vgg13']
    assert [m.name for m in rows['a-no-adaptation-t1'].model.mentors] == [
        'vgg13', 'resnet8', 'resnet14', 'resnet20', 'shufflenetv1', 'shufflenetv2']


def test_figure3_grid():
    temperatures = {cfg.model.distill_loss.base_temperature
                    for cfg in cells('fig3-', 'mobilenetv2_vgg13_cifar100').values()}
    assert temperatures == {4.0, 8.0, 20.0}  # and 12, the classroom itself


def test_figure4_grid_adds_mentors_as_the_authors_did():
    grid = {cell: [m.name for m in cfg.model.mentors]
            for cell, cfg in cells('fig4-', 'mobilenetv2_resnet50_cifar100').items()}
    # 0-3 teachers x 0-5 peers, less the student alone (Table 3(a)) and the classroom (1t5p)
    assert sorted(grid) == sorted(f'{t}t{p}p' for t in range(4) for p in range(6)
                                  if (t, p) not in ((0, 0), (1, 5)))
    # from the authors' configs/classroom/mobv2_student/<T>t<P>p.yaml
    assert grid['0t1p'] == ['resnet8']
    assert grid['0t5p'] == ['resnet8', 'resnet14', 'resnet20', 'shufflenetv1', 'shufflenetv2']
    assert grid['1t0p'] == ['resnet50']
    assert grid['1t2p'] == ['resnet50', 'resnet8', 'resnet14']
    assert grid['2t5p'] == ['resnet50', 'vgg13', 'resnet8', 'resnet14', 'resnet20',
                            'shufflenetv1', 'shufflenetv2']
    assert grid['3t0p'] == ['resnet50', 'vgg13', 'wrn_40_2']


def test_table4_peers_are_snapshots_of_the_efficientnet_run():
    """The peers of the EfficientNet-B0 classroom and of its Table 4(b) rows are the
    accuracies of the authors' checkpoints, and the mentor run keeps every one of them."""
    classroom = Config.fromfile('configs/cls/classroom_mobilenetv2_efficientnet_b0_cifar100.py')
    rows = cells('table4b-', 'mobilenetv2_efficientnet_b0_cifar100')
    peers = {name: [m.checkpoint.split('/')[-1] for m in cfg.model.mentors[1:]]
             for name, cfg in [('classroom', classroom), *rows.items()]}
    assert peers == {
        'classroom': ['top1_60.23.pth', 'top1_61.03.pth', 'top1_63.60.pth', 'top1_66.87.pth',
                      'top1_72.70.pth'],
        'weak-peers': ['top1_23.62.pth', 'top1_34.22.pth', 'top1_44.48.pth', 'top1_53.76.pth',
                       'top1_57.86.pth'],
        'diverse-peers': ['top1_48.47.pth', 'top1_60.23.pth', 'top1_65.31.pth',
                          'top1_67.25.pth', 'top1_72.69.pth'],
    }
    for cfg in [classroom, *rows.values()]:
        assert cfg.model.mentors[0].checkpoint == 'work_dirs/efficientnet_b0_cifar100/epoch_240.pth'
    mentor_run = Config.fromfile('configs/cls/mentors/efficientnet_b0_cifar100.py')
    (hook, ) = mentor_run.custom_hooks
    snapshots = {f'top1_{t:.2f}.pth' for t in hook.targets}
    assert snapshots == {name for names in peers.values() for name in names}
    assert mentor_run.train_cfg.val_interval == 1


def test_table5_dtkd_rows():
    found = {(row.base, load_row(name).model.distill_loss.base_temperature)
             for name, row in ROWS.items() if row.name.startswith('table5-')}
    assert found == {(base, t0) for base in ('mobilenetv2_resnet50_cifar100',
                                             'resnet20_resnet56_cifar100')
                     for t0 in (4.0, 8.0, 12.0, 20.0)}


def test_dtkd_rows_as_the_authors_code_runs_them():
    """The authors' configs/classroom/dtkd/: r20 and mv2 at T0 = 4, 8, 12, 20, sv1 and vgg8 at
    12, each on our classroom with their student, teacher and peers."""
    rows = {name: load_row(name) for name, row in ROWS.items()
            if row.name.startswith('dtkd-authors-code-')}
    found = {(ROWS[name].base, cfg.model.distill_loss.base_temperature)
             for name, cfg in rows.items()}
    assert found == {(base, t0) for base in ('mobilenetv2_resnet50_cifar100',
                                             'resnet20_resnet56_cifar100')
                     for t0 in (4.0, 8.0, 12.0, 20.0)} | {
                         ('shufflenetv1_wrn_40_2_cifar100', 12.0), ('vgg8_vgg13_cifar100', 12.0)}
    for cfg in rows.values():
        loss = ClassroomKDLoss(**{k: v for k, v in cfg.model.distill_loss.items()
                                  if k != 'type'})
        assert (loss.settings.temperature, loss.settings.dtkd_variant) == ('dtkd',
                                                                           'authors_code')
        assert loss.settings.knowledge_filtering and loss.settings.strategy == 'classroom'


def test_table6_method_b_on_the_ten_cifar_classrooms():
    bases = {row.base for row in ROWS.values() if row.name == 'table6-method-b'}
    assert bases == {p.stem[len('classroom_'):] for p in (REPO / 'configs' / 'cls').glob(
        'classroom_*_cifar100.py')} - {'mobilenetv2_efficientnet_b0_cifar100'}
    assert len(bases) == 10


# ---------------------------------------------------------------------------------- pose

POSE_CLASSROOM = 'rtmpose-t_coco-256x192'
POSE_INTENDED = {
    'table3-baseline': dict(knowledge_filtering=False, mentoring=False),
    'table3-kf-only': dict(mentoring=False),
    'table3-mentoring-only': dict(knowledge_filtering=False),
    'uniform-ranking': dict(ranking='uniform'),
    'dtkd-temperature': dict(temperature='dtkd'),
    'sample-granularity': dict(granularity='sample'),
    'arithmetic-performance': dict(performance='arithmetic'),
    'nokd': dict(strategy='nokd'),
    'kd': dict(strategy='kd'),
    'aver': dict(strategy='aver'),
    'dgkd': dict(strategy='dgkd'),
    'camkd': dict(strategy='camkd'),
}
POSE_ABLATIONS = REPO / 'configs' / 'pose' / 'ablations'


def test_every_pose_ablation_file_is_listed():
    assert {p.name for p in POSE_ABLATIONS.glob('*.py')} == {
        f'{variant}_{POSE_CLASSROOM}.py' for variant in POSE_INTENDED}


@pytest.fixture(scope='module')
def pose_classroom() -> dict:
    return Config.fromfile(REPO / 'configs' / 'pose' / f'classroom_{POSE_CLASSROOM}.py').to_dict()


@pytest.mark.parametrize('variant', POSE_INTENDED)
def test_pose_ablation_changes_one_distill_loss_field(pose_classroom, variant):
    path = POSE_ABLATIONS / f'{variant}_{POSE_CLASSROOM}.py'
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert 3 <= len(lines) <= 5 and lines[0].startswith('# ')
    changed = {p: (a, b) for p, a, b in differences(pose_classroom,
                                                    Config.fromfile(path).to_dict())}
    expected = {f'model.distill_loss.{field}': value
                for field, value in POSE_INTENDED[variant].items()}
    assert {p: b for p, (_, b) in changed.items()} == expected
    for p, (a, b) in changed.items():
        assert b != (LOSS_DEFAULTS[p.split('.')[-1]] if a is MISSING else a), p
