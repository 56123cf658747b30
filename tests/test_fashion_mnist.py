"""Fashion-MNIST: the data step's sources in order, its checks and its error, and the split."""
import gzip
import hashlib
import json
import math
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


def test_the_demo_table_its_sentence_and_the_headline(tmp_path, monkeypatch):
    demo = load_tool('demo')
    FASHION_MNIST, Result = demo.FASHION_MNIST, demo.Result
    jobs = FASHION_MNIST.mentors + [FASHION_MNIST.student, FASHION_MNIST.classroom]
    accuracies = [87.1, 86.0, 84.2, 80.5, 82.25]
    results = [Result(job, acc, 10.0 * i, demo.ROOT / job.checkpoint if '/' in job.checkpoint
                      else demo.ROOT / 'work_dirs' / job.config / job.checkpoint)
               for i, (job, acc) in enumerate(zip(jobs, accuracies))]
    text = demo.table(FASHION_MNIST, results).splitlines()
    assert text[0] == ('Fashion-MNIST, test split of 10,000 images; mentors trained on the '
                       '50,000 training images, the student on a transfer set of 1,000 for 640 '
                       'iterations:')
    assert text[4] == ('| wrn_16_2_fmnist_converged | teacher | 87.10 | 0 | '
                       'checkpoints/fashion_mnist/wrn_16_2.pth |')
    assert text[-1].startswith('| classroom_resnet8_fmnist_converged | student in the classroom '
                               '| 82.25 |')
    assert demo.verdict(results).startswith(
        'On this run the student in the classroom ends 1.75 points above the student trained '
        'alone on the same budget (82.25% against 80.50%; the teacher has 87.10%).')
    worse = results[:-1] + [results[-1]._replace(accuracy=79.0)]
    assert '1.50 points below' in demo.verdict(worse)
    # the headline, from the ledger: paired differences 1.0 and 2.0 on seeds 0 and 1
    ledger = tmp_path / 'ledger.jsonl'
    monkeypatch.setattr(demo, 'LEDGER', ledger)
    assert 'no runs in the ledger yet' in demo.headline()
    runs = [('Student alone', 0, 88.0), ('Student alone', 1, 89.0), ('ClassroomKD', 0, 89.0),
            ('ClassroomKD', 1, 91.0), ('ClassroomKD', 0, 1.0)]
    ledger.write_text('\n'.join(json.dumps(dict(
        key=f'table/{row}/seed{seed}', test=test, protocol='converged' if test > 1 else 'cpu'))
        for row, seed, test in runs))
    monkeypatch.setattr(demo, 'ROOT', tmp_path)
    text = demo.headline()
    assert 'Student alone 88.50 ± 0.71 %; ClassroomKD 90.00 ± 1.41 %' in text
    # mean 1.5, std 0.71, t(1) = 12.706: 1.5 ± 12.706 * 0.7071 / sqrt(2) = 1.5 ± 6.35
    assert 'paired over 2 seeds: 1.50 ± 0.71 points, 95 % interval [-4.85, +7.85]' in text


def test_the_demo_refuses_a_mentor_other_than_the_ledger_s(tmp_path, monkeypatch):
    demo = load_tool('demo')
    weights = tmp_path / 'checkpoints' / 'wrn.pth'
    weights.parent.mkdir()
    weights.write_bytes(b'weights')
    ledger = tmp_path / 'ledger.jsonl'
    ledger.write_text(json.dumps(dict(key='mentors/wrn_16_2/seed0', protocol='converged',
                                      export_sha256='0' * 64)))
    monkeypatch.setattr(demo, 'LEDGER', ledger)
    monkeypatch.setattr(demo, 'ROOT', tmp_path)
    with pytest.raises(SystemExit, match='is not the one the ledger recorded'):
        demo.check_committed('wrn_16_2_fmnist_converged', weights)
    with pytest.raises(SystemExit, match='is missing: it is committed'):
        demo.check_committed('wrn_16_2_fmnist_converged', tmp_path / 'checkpoints' / 'no.pth')
    ledger.write_text(json.dumps(dict(key='mentors/wrn_16_2/seed0', protocol='converged',
                                      export_sha256=hashlib.sha256(b'weights').hexdigest())))
    demo.check_committed('wrn_16_2_fmnist_converged', weights)  # as recorded: no error


def test_the_benchmark_chooses_t0_on_val_and_pairs_the_seeds(tmp_path):
    tool = load_tool('benchmark_accuracy')
    val = {'kd, T0 4': 83.0, 'kd, T0 12': 81.0, 'aver, T0 4': 80.0, 'aver, T0 12': 82.0,
           'dgkd, T0 4': 82.0, 'dgkd, T0 12': 81.0, 'camkd, T0 4': 80.0, 'camkd, T0 12': 81.0,
           'classroom, T0 4': 79.0, 'classroom, T0 12': 80.5, 'dtkd, T0 4': 80.0,
           'dtkd, T0 12': 10.0}
    records = [dict(key=f'choices/{row}/seed{seed}', val=v + seed, protocol='cpu')
               for row, v in val.items() for seed in (0, 1)]
    test = {'Student alone': [80.0, 81.0, 82.0], 'ClassroomKD': [80.5, 80.0, 83.0],
            '+ weak mentor: ClassroomKD': [81.0, 82.0], '+ weak mentor: AVER': [80.0, 83.0]}
    records += [dict(key=f'table/{row}/seed{seed}', val=v, test=v, train_seconds=10.0,
                     protocol='cpu')
                for row, values in test.items() for seed, v in enumerate(values)]
    # another protocol's runs in the same ledger are not this one's
    records.append(dict(records[-1], protocol='converged', test=0.0))
    ledger = tmp_path / 'ledger.jsonl'
    ledger.write_text('\n'.join(map(json.dumps, records)))
    bench = tool.Bench(tmp_path, 1, 'cpu', ledger)

    chosen = {family: (None, t0) for family, t0 in  # the CPU protocol keeps the config's lr
              dict(kd=4.0, aver=12.0, dgkd=4.0, camkd=12.0, classroom=12.0, dtkd=4.0).items()}
    assert tool.chosen_settings(bench, [0, 1]) == chosen
    # a method whose grid has not run on every choice seed has no T0, and no rows yet
    partial = tool.chosen_settings(bench, [0, 1, 2])
    assert partial == {} and set(tool.table_rows(partial, 'cpu')) == {'Student alone'}
    rows = tool.table_rows(chosen, 'cpu')
    assert rows['AVER'] == dict(config='configs/cls/fashion_mnist/classroom_resnet8_fmnist.py',
                                loss=dict(strategy='aver', base_temperature=12.0))
    # neither module: every mentor at T0 with weight 1, the task weight 1
    assert rows['ClassroomKD without Knowledge Filtering and Mentoring']['loss'] == dict(
        knowledge_filtering=False, mentoring=False, base_temperature=12.0)
    # the DTKD ablation at ClassroomKD's T0, and again at the T0 its own grid chose
    assert rows['ClassroomKD, DTKD temperatures']['loss'] == dict(temperature='dtkd',
                                                                  base_temperature=12.0)
    assert rows['ClassroomKD, DTKD temperatures, own T0']['loss'] == dict(temperature='dtkd',
                                                                          base_temperature=4.0)
    # the diagnosis rows: one change each from that ablation, at the lr and T0 of its family
    assert rows['ClassroomKD, DTKD temperatures, task weight 1']['loss'] == dict(
        temperature='dtkd', task_weighting=False, base_temperature=12.0)
    assert rows['KD (teacher only), DTKD temperatures']['loss'] == dict(
        strategy='kd', temperature='dtkd', base_temperature=4.0)
    # when the grid chooses ClassroomKD's T0 the own-T0 rows would repeat the runs of the rows
    # at ClassroomKD's
    same = tool.table_rows(dict(chosen, dtkd=(None, 12.0)), 'cpu')
    assert set(rows) - set(same) == {
        prefix + row for prefix in ('', '+ weak mentor: ') for row in (
            'ClassroomKD, DTKD temperatures, own T0',
            'ClassroomKD, DTKD temperatures, task weight 1, own T0')}
    text = tool.report(bench, [0, 1, 2], [0, 1], 'cpu')
    # differences of the same seeds: 0.5, -1.0, 1.0; mean 0.17, std 1.04, t(2) = 4.303:
    # 0.17 ± 4.303 * 1.04 / sqrt(3) = [-2.42, +2.75]. Pairing: std 1.04 against the unpaired
    # sqrt(var(80, 81, 82) + var(80.5, 80, 83)) = sqrt(1 + 2.58) = 1.89
    assert '| ClassroomKD − Student alone | 0.17 ± 1.04 | [-2.42, +2.75] | no | 0.55 | 3 |' \
        in text
    assert '| ClassroomKD | 81.17 ± 1.61 | 81.17 ± 1.61 | 10 |' in text
    # fewer seeds than asked for say so
    assert '| + weak mentor: ClassroomKD | 81.50 ± 0.71 (2 seeds) | 81.50 ± 0.71 (2 seeds) | 10 |' \
        in text
    assert '| DGKD | not run | not run |  |' in text
    # a row of the weak classroom named once, its own prefix left out
    assert '| + weak mentor: ClassroomKD − AVER | 0.00 ± 1.41 | [-12.71, +12.71] | no |  | 2 |' \
        in text
    # 1.0 on both seeds: no spread, an interval of one point, significant
    assert '| + weak mentor: ClassroomKD − Student alone | 1.00 ± 0.00 | [+1.00, +1.00] | yes' \
        in text


def test_interval_and_plateau_arithmetic():
    tool = load_tool('benchmark_accuracy')
    # five differences 1, 2, 0, 1, 1: mean 1, std sqrt(0.5) = 0.7071, t(4) = 2.776:
    # 1 ± 2.776 * 0.7071 / sqrt(5) = 1 ± 0.8778
    low, high = tool.interval([1.0, 2.0, 0.0, 1.0, 1.0])
    assert (round(low, 4), round(high, 4)) == (0.1222, 1.8778)
    # 2B minus B: 0.25 (within 0.3) and -0.35 (not)
    assert tool.plateau([88.0, 88.5], [88.3, 88.7]) == (pytest.approx(0.25), True)
    assert tool.plateau([88.0, 88.5], [87.6, 88.2]) == (pytest.approx(-0.35), False)
    # identical runs: no spread either way, no ratio
    assert math.isnan(tool.pairing_ratio([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]))


def test_the_ledger_keeps_the_classroom_log_as_quarter_means():
    from mmengine.logging import MessageHub
    tool = load_tool('benchmark_accuracy')
    hub = MessageHub.get_instance('test_classroom_log')
    for i in range(10):  # 10 logged values: quarters of 2
        hub.update_scalar('train/classroom/r_s', float(i))
        hub.update_scalar('train/classroom/t_wrn_16_2', 13.0 - i)
        hub.update_scalar('train/loss', 1.0)
    assert tool.classroom_log(hub) == {'r_s': [0.5, 8.5], 't_wrn_16_2': [12.5, 4.5]}


def test_the_report_averages_the_classroom_logs_over_seeds_and_mentors(tmp_path):
    tool = load_tool('benchmark_accuracy')
    bench = tool.Bench(tmp_path, 1, 'converged', tmp_path / 'ledger.jsonl')
    logs = [dict(r_s=[0.2, 0.6], w_s=[0.1, 0.9], active_a=[1.0, 0.5], active_b=[1.0, 0.0],
                 t_a=[8.0, 2.0], t_b=[6.0, 4.0], ts_a=[1.0, 1.0], ts_b=[3.0, 1.0]),
            dict(r_s=[0.4, 0.8], w_s=[0.3, 0.7], active_a=[1.0, 1.0], active_b=[0.0, 0.5],
                 t_a=[8.0, 2.0], t_b=[6.0, 4.0], ts_a=[1.0, 1.0], ts_b=[3.0, 1.0])]
    for seed, log in enumerate(logs):
        bench.results[f'table/ClassroomKD/seed{seed}'] = dict(classroom=log)
    bench.results['table/Student alone/seed0'] = dict(val=80.0)  # no log: no line
    lines = tool._log_lines(bench, 'table', ['Student alone', 'ClassroomKD'], [0, 1, 2])
    assert lines[-1] == ('| ClassroomKD | 0.30 → 0.70 | 0.20 → 0.80 | 0.75 → 0.50 '
                         '| 7.00 → 3.00 | 2.00 → 1.00 | 2 |')
    assert tool._log_lines(bench, 'table', ['Student alone'], [0]) == []


def test_the_ledger_skips_what_it_holds_and_appends_what_finishes(tmp_path, monkeypatch):
    tool = load_tool('benchmark_accuracy')
    ledger = tmp_path / 'docs' / 'ledger.jsonl'
    done = dict(key='table/Student alone/seed0', protocol='converged', val=1.0, test=2.0,
                train_seconds=3.0)
    ledger.parent.mkdir()
    ledger.write_text(json.dumps(done) + '\n')
    bench = tool.Bench(tmp_path, 1, 'converged', ledger)
    ran, run = [], tool.subprocess.run

    def finished(cmd, **kwargs):  # a worker's output, without training
        if '--worker' not in cmd:
            return run(cmd, **kwargs)
        ran.append(json.loads(cmd[-1])['key'])
        return tool.subprocess.CompletedProcess(cmd, 0, json.dumps(dict(
            val=5.0, test=6.0, train_seconds=7.0, config_sha256='ab')), '')

    monkeypatch.setattr(tool.subprocess, 'run', finished)
    monkeypatch.setattr(tool, 'commit', lambda: 'abc1234')
    specs = tool.specs_for('table', {'Student alone': dict(config='a.py')}, [0, 1], tmp_path,
                           test=True)
    bench.run_all(specs)
    assert ran == ['table/Student alone/seed1']  # seed 0 is in the ledger
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert lines[0] == done and len(lines) == 2
    assert {k: lines[1][k] for k in ('key', 'seed', 'val', 'test', 'protocol', 'commit')} == dict(
        key='table/Student alone/seed1', seed=1, val=5.0, test=6.0, protocol='converged',
        commit='abc1234')
    assert 'cores' in lines[1]['machine'] and lines[1]['config_sha256'] == 'ab'
    # the table is rebuilt from the ledger alone
    again = tool.Bench(tmp_path, 1, 'converged', ledger)
    assert again.values('table', 'Student alone', 'test', [0, 1]) == [2.0, 6.0]


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
    rows = tool.table_rows(dict.fromkeys(tool.FAMILIES, (None, 4.0)), 'full')
    assert rows['Student alone'] == dict(
        config='configs/cls/fashion_mnist/full/resnet8_fmnist_full.py')
    assert rows['+ weak mentor: AVER']['config'] == (
        'configs/cls/fashion_mnist/full/classroom_resnet8_weak_fmnist_full.py')
    assert all((CONFIGS / 'full' / Path(row['config']).name).is_file() for row in
               list(rows.values()) + list(tool.choice_rows('full').values()))
    assert {name: run['checkpoint'] for name, run in tool.mentor_runs('full').items()} == {
        name: f'work_dirs/{name}_fmnist_full/iter_{FULL_ITERS}.pth' for name in FULL[1:5]}


def test_the_converged_protocol_trains_the_student_on_the_transfer_set():
    from mmengine.config import Config
    tool = load_tool('benchmark_accuracy')
    student = Config.fromfile(CONFIGS / 'converged' / 'resnet8_fmnist_converged.py')
    mentor = Config.fromfile(CONFIGS / 'converged' / 'wrn_16_2_fmnist_converged.py')
    transfer = student.train_dataloader.dataset.dataset
    whole = mentor.train_dataloader.dataset.dataset
    assert transfer.subset == 1000 and 'subset' not in whole  # the mentors learned on all 50,000
    assert transfer.pipeline == [dict(type='PackInputs')]  # the transfer set is not augmented
    assert whole.pipeline[0].type == 'RandomCrop'
    assert (student.train_cfg.max_iters, mentor.train_cfg.max_iters) == (640, 3 * 782)
    assert (student.optim_wrapper.optimizer.lr, mentor.optim_wrapper.optimizer.lr) == (0.8, 0.1)
    classroom = Config.fromfile(CONFIGS / 'converged' / 'classroom_resnet8_fmnist_converged.py')
    assert classroom.train_dataloader == student.train_dataloader
    assert (classroom.optim_wrapper.optimizer.lr, classroom.model.distill_loss.base_temperature) == (
        0.1, 12.0)  # ClassroomKD's choice on validation
    assert [m.checkpoint for m in classroom.model.mentors] == [
        f'checkpoints/fashion_mnist/{name}.pth' for name in ('wrn_16_2', 'resnet20', 'resnet14')]
    # seed 0 of each mentor exports the weights the classrooms load; a classroom's rows on a
    # seed share one mentor cache, but for lazy mentors, which the cache refuses
    specs = tool.mentor_specs([0, 1], Path('w'), 'converged')
    assert specs[0]['export'].endswith('checkpoints/fashion_mnist/wrn_16_2.pth')
    assert 'export' not in specs[1]
    rows = tool.table_rows(dict.fromkeys(tool.FAMILIES, (0.4, 4.0)), 'converged')
    specs = {s['key']: s for s in tool.specs_for('table', rows, [3], Path('w'), True, cached=True)}
    assert specs['table/AVER/seed3']['mentor_cache'] == specs['table/ClassroomKD/seed3'][
        'mentor_cache'] == str(Path('w/mentor_cache/classroom_resnet8_fmnist_converged_seed3'))
    assert 'mentor_cache' not in specs['table/Student alone/seed3']
    assert specs['table/KD (teacher only)/seed3']['mentor_cache'].endswith(
        'classroom_resnet8_fmnist_converged_seed3_teacher')
    # E stored passes cycled, measured where views change from pass to pass: against
    # ClassroomKD on the crop-augmented transfer set here, each with a cache of its own
    augmented = specs[f'table/{tool.AUGMENTED}/seed3']
    assert augmented['augment'] and augmented['loss'] == specs['table/ClassroomKD/seed3']['loss']
    assert augmented['mentor_cache'].endswith('converged_seed3_augmented')
    assert specs['table/ClassroomKD, mentor_cache passes=4/seed3']['mentor_cache'].endswith(
        'converged_seed3_passes4_augmented')
    cfg = tool.run_config(augmented)
    assert [t.type for t in cfg.train_dataloader.dataset.dataset.pipeline] == [
        'RandomCrop', 'PackInputs']
    assert cfg.model.mentor_cache.dir == augmented['mentor_cache']
    assert [h['type'] for h in cfg.custom_hooks] == ['MentorCacheHook', 'ClassroomHook']
    plain = tool.run_config(specs['table/ClassroomKD/seed3'])
    assert plain.train_dataloader.dataset.dataset.pipeline == [dict(type='PackInputs')]
    assert (plain.randomness.seed, plain.model.distill_loss.base_temperature) == (3, 4.0)
    # in the full protocol (augmented already) against ClassroomKD itself
    rows = tool.table_rows(dict.fromkeys(tool.FAMILIES, (None, 4.0)), 'full')
    assert tool.AUGMENTED not in rows
    specs = {s['key']: s for s in tool.specs_for('table', rows, [3], Path('w'), True, cached=True)}
    cycled = specs['table/ClassroomKD, mentor_cache passes=1/seed3']
    assert cycled['mentor_cache'].endswith('classroom_resnet8_fmnist_full_seed3_passes1')
    assert cycled['cache'] == dict(passes=1) and cycled['loss'] == specs[
        'table/ClassroomKD/seed3']['loss']
    assert 'mentor_cache' not in specs[f'table/{tool.LAZY}/seed3']
