"""Fashion-MNIST: the data step's sources in order, its checks and its error, and the split."""
import gzip
import json
import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import load_tool, save_random_checkpoint

from classroomkd_plugin.datasets.fashion_mnist import (FashionMNISTSplit,
                                                       FashionMNISTUnavailable,
                                                       prepare_fashion_mnist)

CONTENT = {'images': b'the images', 'labels': b'the labels'}
EXPECTED = {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in CONTENT.items()}


def write(folder: Path, packed: bool = True, corrupt: str = '') -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in CONTENT.items():
        data = b'x' + data[1:] if name == corrupt else data
        if packed:
            (folder / f'{name}.gz').write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def never(*args):
    raise AssertionError('this source must not be tried')


def prepare(root, debian_dir, install=never, download=never, log=never):
    return prepare_fashion_mnist(root, debian_dir, install, download, EXPECTED, log)


def test_a_good_copy_in_place_is_used_and_nothing_else_tried(tmp_path):
    root = write(tmp_path / 'data', packed=False)
    assert prepare(root, tmp_path / 'no_debian') == root


def test_a_corrupt_copy_is_replaced_from_the_debian_package(tmp_path):
    root = write(tmp_path / 'data', packed=False, corrupt='images')
    debian = write(tmp_path / 'debian')
    said = []
    prepare(root, debian, log=said.append)
    assert (root / 'images').read_bytes() == CONTENT['images']
    assert said == [f'Fashion-MNIST: {root} from the Debian package (copied from {debian})']


def test_apt_installs_the_package_when_it_is_absent(tmp_path):
    debian = tmp_path / 'debian'
    said = []
    prepare(tmp_path / 'data', debian, install=lambda: write(debian) and 'installed',
            log=said.append)
    assert (tmp_path / 'data' / 'labels').read_bytes() == CONTENT['labels']
    assert 'apt-get install dataset-fashion-mnist' in said[0]


def test_mmpretrain_download_comes_last(tmp_path):
    root = tmp_path / 'data'
    said = []
    prepare(root, tmp_path / 'debian', install=lambda: 'no apt-get on this system',
            download=lambda where: write(where, packed=False) and 'downloaded', log=said.append)
    assert said == [f"Fashion-MNIST: {root} from MMPretrain's download (downloaded)"]


def test_when_nothing_works_one_error_says_what_each_source_said_and_how_to_get_the_files(
        tmp_path):
    root = tmp_path / 'data'
    with pytest.raises(FashionMNISTUnavailable) as error:
        prepare(root, tmp_path / 'debian', install=lambda: 'not root: apt-get install '
                'dataset-fashion-mnist needs sudo',
                download=lambda where: 'download failed: URLError: no network')
    message = str(error.value)
    assert 'images is missing' in message
    assert f'{tmp_path / "debian"} does not exist' in message
    assert 'needs sudo' in message
    assert 'URLError: no network' in message
    assert 'github.com/zalandoresearch/fashion-mnist' in message
    assert f'un-gzip them into {root}' in message
    assert 'apt-get install dataset-fashion-mnist' in message


def test_a_wrong_checksum_is_caught_even_at_the_right_size(tmp_path):
    root = write(tmp_path / 'data', packed=False, corrupt='labels')
    with pytest.raises(FashionMNISTUnavailable, match='labels has the wrong SHA-256'):
        prepare(root, tmp_path / 'debian', install=lambda: 'no apt-get',
                download=lambda where: 'download failed')


def test_the_splits_of_the_real_files(fashion_mnist_root):
    """Validation is held out of the training images; test is the official test set."""
    def load(split, **kwargs):
        dataset = FashionMNISTSplit(data_root=str(fashion_mnist_root), split=split, **kwargs)
        images = np.stack([dataset.get_data_info(i)['img'] for i in range(len(dataset))])
        labels = np.array([dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))])
        return images, labels

    train, val, test = (load(split) for split in ('train', 'val', 'test'))
    assert [len(x[1]) for x in (train, val, test)] == [50000, 10000, 10000]
    assert train[0].shape[1:] == (28, 28, 3)
    seen = {image.tobytes() for image in train[0][:, :, :, 0]}
    assert sum(image.tobytes() in seen for image in val[0][:, :, :, 0]) < 10  # duplicates only
    # the official files: 6,000 training and 1,000 test images per class
    assert np.bincount(np.concatenate([train[1], val[1]])).tolist() == [6000] * 10
    assert np.bincount(test[1]).tolist() == [1000] * 10
    noisy = load('train', subset=2000, label_noise=0.5, seed=3)
    changed = noisy[1] != train[1][:2000]
    assert (noisy[0] == train[0][:2000]).all() and 0.45 < changed.mean() < 0.55


CONFIGS = Path('configs/cls/fashion_mnist')


# the student, a mentor, the weak mentor and the classroom that holds every mentor
@pytest.mark.parametrize('name', ['resnet8_fmnist', 'wrn_16_2_fmnist', 'resnet14_noisy_fmnist',
                                  'classroom_resnet8_weak_fmnist'])
def test_the_fashion_mnist_configs_train(name, fashion_mnist_root, tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(CONFIGS / f'{name}.py')
    if cfg.model.type == 'ClassroomDistiller':
        for mentor in cfg.model.mentors:
            mentor.checkpoint = save_random_checkpoint(mentor.config,
                                                       tmp_path / f'{mentor.name}.pth')
        cfg.custom_hooks = [dict(type='ClassroomHook', interval=1)]
    cfg.train_dataloader.dataset.dataset.subset = 64
    cfg.train_cfg = dict(by_epoch=False, max_iters=2)
    cfg.param_scheduler = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.work_dir = str(tmp_path)
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert np.isfinite(scalars['train/loss'].current())
    if cfg.model.type == 'ClassroomDistiller':  # the weak classroom has all four mentors
        assert {'train/classroom/r_wrn_16_2', 'train/classroom/r_resnet14_noisy'} <= set(scalars)


def test_the_demo_table_and_its_sentence():
    demo = load_tool('demo')
    FASHION_MNIST, Result = demo.FASHION_MNIST, demo.Result
    jobs = FASHION_MNIST.mentors + [FASHION_MNIST.student, FASHION_MNIST.classroom]
    accuracies = [87.1, 86.0, 84.2, 80.5, 82.25]
    results = [Result(job, acc, 10.0 * i, Path.cwd() / 'work_dirs' / job.config / job.checkpoint)
               for i, (job, acc) in enumerate(zip(jobs, accuracies))]
    text = demo.table(FASHION_MNIST, results).splitlines()
    assert text[0] == 'Fashion-MNIST, test split of 10,000 images:'
    assert text[4] == ('| wrn_16_2_fmnist | teacher | 87.10 | 0 | '
                       'work_dirs/wrn_16_2_fmnist/iter_780.pth |')
    assert text[-1].startswith('| classroom_resnet8_fmnist | student in the classroom | 82.25 |')
    assert demo.verdict(results).startswith(
        'On this run the student in the classroom ends 1.75 points above the student trained '
        'alone on the same budget (82.25% against 80.50%; the teacher has 87.10%).')
    worse = results[:-1] + [results[-1]._replace(accuracy=79.0)]
    assert '1.50 points below' in demo.verdict(worse)


def test_the_benchmark_chooses_t0_on_val_and_pairs_the_seeds(tmp_path):
    tool = load_tool('benchmark_accuracy')
    val = {'kd, T0 4': 83.0, 'kd, T0 12': 81.0, 'aver, T0 4': 80.0, 'aver, T0 12': 82.0,
           'classroom, T0 4': 79.0, 'classroom, T0 12': 80.5, 'dtkd, T0 4': 80.0,
           'dtkd, T0 12': 10.0}
    records = [dict(key=f'choices/{row}/seed{seed}', val=v + seed) for row, v in val.items()
               for seed in (0, 1)]
    test = {'Student alone': [80.0, 81.0, 82.0], 'ClassroomKD': [80.5, 80.0, 83.0],
            '+ weak mentor: ClassroomKD': [81.0, 82.0], '+ weak mentor: AVER': [80.0, 83.0]}
    records += [dict(key=f'table/{row}/seed{seed}', val=v, test=v, train_seconds=10.0)
                for row, values in test.items() for seed, v in enumerate(values)]
    (tmp_path / 'results.jsonl').write_text('\n'.join(map(json.dumps, records)))
    bench = tool.Bench(tmp_path, jobs=1)

    chosen = dict(kd=4.0, aver=12.0, classroom=12.0, dtkd=4.0)
    assert tool.chosen_temperatures(bench, [0, 1]) == chosen
    rows = tool.table_rows(chosen, 'cpu')
    assert rows['AVER'] == dict(config='configs/cls/fashion_mnist/classroom_resnet8_fmnist.py',
                                loss=dict(strategy='aver', base_temperature=12.0))
    # the DTKD ablation at ClassroomKD's T0, and again at the T0 its own grid chose
    assert rows['ClassroomKD, DTKD temperatures']['loss'] == dict(temperature='dtkd',
                                                                  base_temperature=12.0)
    assert rows['ClassroomKD, DTKD temperatures, own T0']['loss'] == dict(temperature='dtkd',
                                                                          base_temperature=4.0)
    # when the grid chooses ClassroomKD's T0 that row would repeat the runs of the one above
    same = tool.table_rows(dict(chosen, dtkd=12.0), 'cpu')
    assert set(rows) - set(same) == {'ClassroomKD, DTKD temperatures, own T0',
                                     '+ weak mentor: ClassroomKD, DTKD temperatures, own T0'}
    text = tool.report(bench, [0, 1, 2], [0, 1], 'cpu')
    # differences of the same seeds: 0.5, -1.0, 1.0
    assert '| ClassroomKD − Student alone | 0.17 ± 1.04 | 3 |' in text
    assert '| ClassroomKD | 81.17 ± 1.61 | 81.17 ± 1.61 | 10 |' in text
    # fewer seeds than asked for say so
    assert '| + weak mentor: ClassroomKD | 81.50 ± 0.71 (2 seeds) | 81.50 ± 0.71 (2 seeds) | 10 |' \
        in text
    assert '| DGKD | not run | not run |  |' in text
    # a row of the weak classroom named once, its own prefix left out
    assert '| + weak mentor: ClassroomKD − AVER | 0.00 ± 1.41 | 2 |' in text
    assert '| + weak mentor: ClassroomKD − Student alone | 1.00 ± 0.00 | 2 |' in text


FULL_ITERS = 23460  # 30 epochs of ceil(50,000 / 64) = 782 iterations
FULL = ['resnet8', 'wrn_16_2', 'resnet20', 'resnet14', 'resnet14_noisy', 'classroom_resnet8',
        'classroom_resnet8_weak']


def test_the_full_protocol_configs_are_the_generator_output():
    generator = load_tool('generate_fmnist_full')
    assert sorted(p.name for p in generator.OUT.glob('*.py')) == sorted(
        f'{name}_fmnist_full.py' for name in FULL)
    assert generator.main(['--check']) == 0


@pytest.mark.parametrize('name', FULL)
def test_the_full_protocol_changes_only_the_schedule_and_where_models_come_from(name):
    from mmengine.config import Config
    cpu = Config.fromfile(CONFIGS / f'{name}_fmnist.py').to_dict()
    full = Config.fromfile(CONFIGS / 'full' / f'{name}_fmnist_full.py').to_dict()
    assert full['train_cfg'] == dict(cpu['train_cfg'], max_iters=FULL_ITERS, val_interval=3910)
    assert full['param_scheduler'] == dict(cpu['param_scheduler'], T_max=FULL_ITERS)
    assert full['default_hooks']['checkpoint']['interval'] == 3910
    if 'mentors' in cpu['model']:
        assert full['model']['student'] == 'configs/cls/fashion_mnist/full/resnet8_fmnist_full.py'
        assert [(m['name'], m['config'], m['checkpoint']) for m in full['model']['mentors']] == [
            (m['name'], f"configs/cls/fashion_mnist/full/{m['name']}_fmnist_full.py",
             f"work_dirs/{m['name']}_fmnist_full/iter_{FULL_ITERS}.pth")
            for m in cpu['model']['mentors']]
        for key in ('student', 'mentors'):
            full['model'].pop(key), cpu['model'].pop(key)
    for key in ('train_cfg', 'param_scheduler', 'default_hooks'):
        full.pop(key), cpu.pop(key)
    assert full == cpu  # the data, the recipe, the lr and the loss are the CPU protocol's


def test_the_benchmark_runs_the_full_protocol_from_its_configs():
    tool = load_tool('benchmark_accuracy')
    rows = tool.table_rows(dict(kd=4.0, aver=12.0, classroom=12.0, dtkd=4.0), 'full')
    assert rows['Student alone'] == dict(
        config='configs/cls/fashion_mnist/full/resnet8_fmnist_full.py')
    assert rows['+ weak mentor: AVER']['config'] == (
        'configs/cls/fashion_mnist/full/classroom_resnet8_weak_fmnist_full.py')
    assert all((CONFIGS / 'full' / Path(row['config']).name).is_file() for row in
               list(rows.values()) + list(tool.choice_rows('full').values()))
    assert {name: run['checkpoint_dir'] for name, run in tool.mentor_runs('full').items()} == {
        name: f'work_dirs/{name}_fmnist_full' for name in FULL[1:5]}
