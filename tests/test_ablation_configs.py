"""The ablation configs: each inherits its classroom and changes exactly the intended fields of
``model.distill_loss``, nothing else in the whole config."""
import inspect
from typing import Any, Dict, Iterator, Tuple

import pytest
from mmengine.config import Config

from classroomkd_plugin.models import ClassroomKDLoss
from conftest import REPO

BASES = {
    'configs/cls/ablations': ('classroom_resnet20_resnet110_cifar100.py',
                              'resnet20_resnet110_cifar100'),
    'configs/pose/ablations': ('classroom_rtmpose-t_coco-256x192.py', 'rtmpose-t_coco-256x192'),
}
INTENDED = {
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
ABLATIONS = [
    pytest.param(folder, variant, id=f"{folder.split('/')[1]}-{variant}")
    for folder in BASES for variant in INTENDED
]
LOSS_DEFAULTS = {name: p.default
                 for name, p in inspect.signature(ClassroomKDLoss).parameters.items()}
MISSING = object()


def differences(base: Any, other: Any, path: str = '') -> Iterator[Tuple[str, Any, Any]]:
    """(dotted path, base value, other value) of every leaf where the two configs differ."""
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


def test_every_ablation_file_is_listed():
    for folder, (_, classroom) in BASES.items():
        files = {p.name for p in (REPO / folder).glob('*.py')}
        assert files == {f'{variant}_{classroom}.py' for variant in INTENDED}


@pytest.fixture(scope='module')
def base_configs() -> Dict[str, dict]:
    return {folder: Config.fromfile(REPO / folder / '..' / base).to_dict()
            for folder, (base, _) in BASES.items()}


@pytest.mark.parametrize('folder,variant', ABLATIONS)
def test_ablation_changes_one_distill_loss_field(base_configs, folder, variant):
    path = REPO / folder / f'{variant}_{BASES[folder][1]}.py'
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert 3 <= len(lines) <= 5 and lines[0].startswith('# ')
    changed = {p: (a, b) for p, a, b in differences(base_configs[folder],
                                                    Config.fromfile(path).to_dict())}
    expected = {f'model.distill_loss.{field}': value
                for field, value in INTENDED[variant].items()}
    assert {p: b for p, (_, b) in changed.items()} == expected
    # the ablation switches the field away from what the base runs with
    for p, (a, b) in changed.items():
        assert b != (LOSS_DEFAULTS[p.split('.')[-1]] if a is MISSING else a), p


def test_the_difference_finder_sees_nested_changes():
    base = dict(model=dict(distill_loss=dict(type='L'), mentors=[dict(name='a')]), lr=0.1)
    other = dict(model=dict(distill_loss=dict(type='L', strategy='kd'), mentors=[dict(name='b')]),
                 lr=0.1)
    assert list(differences(base, other)) == [('model.distill_loss.strategy', MISSING, 'kd'),
                                              ('model.mentors.0.name', 'a', 'b')]
