"""tools/: the stock MMPretrain tools and ours train and test the digits classroom, and
tools/extract_student.py turns a classroom checkpoint into one the stock tools test."""
import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import classroomkd_plugin  # noqa: F401
from conftest import REPO, load_tool, save_random_checkpoint

STOCK_TOOLS = Path(mmpretrain.__file__).parent / '.mim' / 'tools'
CLASSROOM = 'configs/cls/digits/classroom_resnet8_digits.py'
STUDENT = 'configs/cls/digits/resnet8_digits.py'
MENTORS = ('resnet32', 'resnet20', 'resnet14', 'mobilenetv2')  # as in the classroom config
SHORT = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.dataset.indices=256']  # 4 iterations


extract_tool = load_tool('extract_student')
train_tool = load_tool('train')


def run(*cmd, env=None) -> str:
    # one thread: the tiny models gain nothing from two, and lose much on a busy machine
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1', **(env or {}))
    result = subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


@pytest.fixture(scope='module')
def mentor_options(tmp_path_factory):
    """--cfg-options that point the classroom's mentors at random-init checkpoints."""
    root = tmp_path_factory.mktemp('digits_mentors')
    return [f'model.mentors.{i}.checkpoint=' +
            save_random_checkpoint(f'configs/cls/digits/{arch}_digits.py', root / f'{arch}.pth')
            for i, arch in enumerate(MENTORS)]


@pytest.fixture(scope='module')
def trained(tmp_path_factory, mentor_options):
    """The classroom trained by the stock tools/train.py and by ours, from the config alone."""
    root = tmp_path_factory.mktemp('trained')
    for name, tool in (('stock', STOCK_TOOLS / 'train.py'), ('ours', REPO / 'tools/train.py')):
        run(sys.executable, tool, CLASSROOM, '--work-dir', root / name,
            '--cfg-options', *SHORT, *mentor_options)
    return root


def test_stock_and_our_train_give_the_same_classroom(trained):
    stock, ours = (torch.load(trained / tool / 'epoch_1.pth', weights_only=True)
                   for tool in ('stock', 'ours'))
    assert stock['meta']['iter'] == ours['meta']['iter'] == 4
    stock, ours = stock['state_dict'], ours['state_dict']
    assert stock.keys() == ours.keys() and all(k.startswith('student.') for k in ours)
    for key, value in stock.items():
        assert torch.equal(value, ours[key]), key


def test_extracted_student_passes_the_stock_test(trained, mentor_options):
    classroom = trained / 'ours' / 'epoch_1.pth'
    student = trained / 'student.pth'
    run(sys.executable, REPO / 'tools/extract_student.py', classroom, student)
    log = run(sys.executable, STOCK_TOOLS / 'test.py', STUDENT, student, '--work-dir',
              trained / 'test_stock', '--out', trained / 'stock.json', '--out-item', 'metrics')
    assert 'do not match exactly' not in log  # MMEngine's note on missing or unexpected keys
    run(sys.executable, REPO / 'tools/test.py', CLASSROOM, classroom, '--work-dir',
        trained / 'test_ours', '--out', trained / 'ours.json', '--cfg-options', *mentor_options)
    stock = json.loads((trained / 'stock.json').read_text())
    ours = json.loads((trained / 'ours.json').read_text())
    assert stock['accuracy/top1'] == ours['accuracy/top1']

    # a plain weights_only load, without the plugin's allow-list, reads it
    check = ('import sys, torch; c = torch.load(sys.argv[1], weights_only=True); '
             "assert 'classroomkd_plugin' not in sys.modules; print(sorted(c), sorted(c['meta']))")
    out = run(sys.executable, '-c', check, student)
    assert "['meta', 'state_dict'] ['dataset_meta', 'experiment_name'" in out
    assert "'epoch'" not in out and "'cfg'" not in out


def test_dist_test_on_two_cpu_processes_gives_the_same_accuracy(trained, mentor_options):
    classroom = trained / 'ours' / 'epoch_1.pth'
    with socket.socket() as s:  # a free port for the process group
        s.bind(('127.0.0.1', 0))
        port = str(s.getsockname()[1])
    run('bash', REPO / 'tools/dist_test.sh', CLASSROOM, classroom, 2, '--work-dir',
        trained / 'dist_test', '--out', trained / 'dist.json', '--cfg-options',
        *mentor_options, env=dict(PORT=port))
    single = json.loads((trained / 'ours.json').read_text())
    assert json.loads((trained / 'dist.json').read_text()) == single


def test_extract_takes_the_plain_or_the_ema_student(tmp_path, digits_mentors):
    """EMAHook saves the average under state_dict and the plain weights under ema_state_dict."""
    cfg = Config.fromfile(CLASSROOM)
    cfg.merge_from_dict(dict(work_dir=str(tmp_path), train_cfg=dict(max_epochs=1),
                             val_cfg=None, val_dataloader=None, val_evaluator=None))
    cfg.model.mentors = digits_mentors
    cfg.train_dataloader.dataset.dataset.indices = 128
    cfg.custom_hooks = [dict(type='EMAHook', momentum=0.5)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    ema_model = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook').ema_model.module
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)

    for ema, model in ((False, runner.model), (True, ema_model)):
        state = extract_tool.extract_student(checkpoint, ema=ema)['state_dict']
        expected = model.student.state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[k], expected[k]) for k in state)
    head = 'head.fc.weight'
    assert not torch.equal(runner.model.student.state_dict()[head],
                           ema_model.student.state_dict()[head])


def test_extract_errors_and_meta():
    weights = {'student.fc.weight': torch.ones(2), 'data_preprocessor.mean': torch.zeros(3)}
    meta = dict(epoch=3, iter=30, seed=0, cfg='...', mmengine_version='0.10.7',
                dataset_meta=dict(classes=('a', 'b')))
    out = extract_tool.extract_student(dict(state_dict=weights, meta=meta))
    assert list(out['state_dict']) == ['fc.weight']
    assert out['meta'] == dict(mmengine_version='0.10.7', dataset_meta=dict(classes=('a', 'b')))
    # MMPose's dataset_meta holds arrays, which weights_only refuses
    pose_meta = dict(meta, dataset_meta=dict(sigmas=np.ones(17)))
    assert 'dataset_meta' not in extract_tool.extract_student(
        dict(state_dict=weights, meta=pose_meta))['meta']

    with pytest.raises(ValueError, match="no 'student.' keys"):
        extract_tool.extract_student(dict(state_dict={'backbone.w': torch.ones(1)}))
    with pytest.raises(ValueError, match='no ema_state_dict'):
        extract_tool.extract_student(dict(state_dict=weights), ema=True)
    with pytest.raises(ValueError, match='no state_dict'):
        extract_tool.extract_student({'backbone.w': torch.ones(1)})


def train_args(**given):
    args = dict(config=CLASSROOM, work_dir=None, resume=None, amp=False, auto_scale_lr=False,
                cfg_options=None, launcher='none')
    return argparse.Namespace(**dict(args, **given))


def test_train_arguments():
    cfg = train_tool.merge_args(Config.fromfile(CLASSROOM), train_args(
        amp=True, resume='auto', launcher='pytorch', cfg_options={'train_cfg.max_epochs': 2}))
    assert cfg.work_dir == './work_dirs/classroom_resnet8_digits'
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.resume and cfg.load_from is None
    assert cfg.train_cfg.max_epochs == 2 and cfg.launcher == 'pytorch'
    # MMPretrain's tools batch its data with default_collate
    assert cfg.train_dataloader.collate_fn.type == 'default_collate'
    assert not cfg.train_dataloader.persistent_workers  # the config's own value
    cfg = train_tool.merge_args(Config.fromfile(CLASSROOM),
                                train_args(resume='a.pth', work_dir='w'))
    assert cfg.load_from == 'a.pth' and cfg.work_dir == 'w'
    with pytest.raises(SystemExit, match='auto_scale_lr'):
        train_tool.merge_args(Config.fromfile(CLASSROOM), train_args(auto_scale_lr=True))


def test_teach_once_benchmark_trains_a_cifar100_classroom_on_synthetic_images(tmp_path):
    """The whole-training benchmark's CIFAR-100 run: the classroom config's own pipeline and
    deterministic views over random images, random-weight mentors saved once and shared."""
    bench = load_tool('benchmark_teach_once')
    args = argparse.Namespace(synthetic=96, input_size=(32, 32))
    cfg = bench.prepare('configs/cls/classroom_resnet20_resnet110_cifar100.py', args,
                        tmp_path / 'mentors')
    views = cfg.train_dataloader.dataset
    assert views.type == 'DeterministicViews' and views.dataset.type == 'SyntheticImages'
    assert views.dataset.num_classes == 100 and cfg.val_dataloader is None
    saved = sorted((tmp_path / 'mentors').glob('*.pth'))
    assert [Path(m.checkpoint) for m in cfg.model.mentors] == [
        tmp_path / 'mentors' / f'{m.name}.pth' for m in cfg.model.mentors]
    assert len(saved) == 6
    cfg.train_dataloader.num_workers = 0
    cfg.train_dataloader.persistent_workers = False
    cfg.train_dataloader.batch_size = 8
    seconds = bench.train_seconds(cfg, 2, tmp_path / 'fill', str(tmp_path / 'cache'))
    assert seconds > 0 and (tmp_path / 'cache').is_dir()
