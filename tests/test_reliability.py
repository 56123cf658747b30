"""Reliability: bit-exact resume under torch's weights_only loading, what a classroom
checkpoint holds, strict mentor loading, NaN mentors and config errors before training."""
import builtins
import collections
import io
import json
import os
import pickle
import re
import subprocess
import sys
import time
from pathlib import Path

import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS, MODELS
from mmengine.runner import Runner
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.models import ClassroomError
from conftest import REPO, save_random_checkpoint

CLASSROOM = 'configs/cls/digits/classroom_resnet8_digits.py'
STUDENT = 'configs/cls/digits/resnet8_digits.py'
STOCK_TRAIN = Path(mmpretrain.__file__).parent / '.mim' / 'tools' / 'train.py'


class Preempted(Exception):
    """Stands for a job that the cluster stopped."""


@HOOKS.register_module(force=True)
class IterationProbe(Hook):
    """Records the iterations a run trains; raises ``Preempted`` before ``stop_at``."""

    def __init__(self, stop_at=None):
        self.stop_at = stop_at
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.stop_at:
            raise Preempted
        self.seen.append(runner.iter)


@MMPRETRAIN_MODELS.register_module(force=True)
class FlakyClassifier(ImageClassifier):
    """An ImageClassifier whose logits hold a NaN and an inf on its 2nd and 3rd batches."""

    nonfinite_batches = (2, 3)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = super().forward(inputs, data_samples, mode)
        if mode == 'tensor':
            self.batches += 1
            if self.batches in self.nonfinite_batches:
                out = out.clone()
                out[0, 0] = float('nan')
                out[1, 1] = float('inf')
        return out


def short(cfg: Config, work_dir: Path, max_iters: int, name: str) -> Config:
    """An iteration-based schedule on 64 digits, checkpointed halfway, without validation.

    An epoch is 4 batches, so that a 6-iteration run resumed at 3 crosses an epoch once (MMEngine
    sleeps 2 s at each epoch end of an iteration-based loop).
    """
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = name  # a fresh logger and message hub for every run
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.train_dataloader.batch_size = 16
    dataset = cfg.train_dataloader.dataset
    (dataset.dataset if dataset.type == 'DeterministicViews' else dataset).indices = 64
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[max_iters // 2 + 1],
                               gamma=0.1)
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False,
                                        interval=max_iters // 2)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=2)
    cfg.log_processor = dict(by_epoch=False)
    return cfg


def classroom(work_dir: Path, mentors, max_iters: int, name: str) -> Config:
    cfg = short(Config.fromfile(CLASSROOM), work_dir, max_iters, name)
    cfg.model.mentors = mentors
    return cfg


def build(mentors, **kwargs):
    return MODELS.build(dict(type='ClassroomDistiller', student=STUDENT, mentors=mentors,
                             **kwargs))


def run(*cmd) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONWARNINGS='ignore'))


def probe(runner: Runner) -> IterationProbe:
    return next(h for h in runner.hooks if isinstance(h, IterationProbe))


# 1. Resume


def test_resumed_run_equals_the_uninterrupted_one_to_the_bit(tmp_path, digits_mentors):
    def cfg(work_dir, name):
        cfg = classroom(work_dir, digits_mentors, 6, name)
        # the optimizer state, two schedulers and EMA must all come back
        cfg.optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.01, weight_decay=0.05))
        cfg.param_scheduler = [
            dict(type='LinearLR', by_epoch=False, start_factor=0.1, end=2),
            dict(type='MultiStepLR', by_epoch=False, milestones=[4], gamma=0.1)
        ]
        cfg.custom_hooks += [dict(type='EMAHook', momentum=0.1), dict(type='IterationProbe')]
        return cfg

    full = Runner.from_cfg(cfg(tmp_path / 'full', 'full'))
    full.train()

    stopped = cfg(tmp_path / 'stopped', 'stopped')
    stopped.custom_hooks[-1].stop_at = 3
    with pytest.raises(Preempted):
        Runner.from_cfg(stopped).train()

    resumed = cfg(tmp_path / 'stopped', 'resumed')
    resumed.merge_from_dict(dict(resume=True, load_from=str(tmp_path / 'stopped/iter_3.pth')))
    resumed = Runner.from_cfg(resumed)
    resumed.train()  # torch.load(weights_only=True) reads the checkpoint

    assert probe(full).seen == list(range(6)) and probe(resumed).seen == [3, 4, 5]
    ema = [next(h for h in r.hooks if type(h).__name__ == 'EMAHook').ema_model
           for r in (full, resumed)]
    for expected, got in ((full.model.student, resumed.model.student), ema):
        expected, got = expected.state_dict(), got.state_dict()
        assert expected.keys() == got.keys()
        for key in expected:
            assert torch.equal(expected[key], got[key]), key


def test_stock_train_tool_resumes(tmp_path, digits_mentors):
    config = tmp_path / 'classroom.py'
    config.write_text(f"""
_base_ = ['{REPO / CLASSROOM}']
model = dict(mentors={digits_mentors!r})
train_dataloader = dict(batch_size=32, dataset=dict(dataset=dict(indices=64)))
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=0.01))
param_scheduler = [dict(type='LinearLR', by_epoch=False, start_factor=0.1, end=3),
                   dict(type='CosineAnnealingLR', by_epoch=True, T_max=2)]
custom_hooks = [dict(type='ClassroomHook'), dict(type='EMAHook')]
val_cfg = None
val_dataloader = None
val_evaluator = None
""")
    work_dir = tmp_path / 'work'
    first = run(sys.executable, STOCK_TRAIN, config, '--work-dir', work_dir,
                '--cfg-options', 'train_cfg.max_epochs=1')
    assert first.returncode == 0, first.stderr[-3000:]
    second = run(sys.executable, STOCK_TRAIN, config, '--work-dir', work_dir, '--resume',
                 '--cfg-options', 'train_cfg.max_epochs=2')
    assert second.returncode == 0, second.stderr[-3000:]
    assert 'resumed epoch: 1, iter: 2' in second.stdout + second.stderr
    assert (work_dir / 'epoch_2.pth').is_file()


def test_checkpoint_contents_load_under_weights_only():
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    coco = Path(mmpose.__file__).parent / '.mim/configs/_base_/datasets/coco.py'
    buffer = HistoryBuffer([1.0, 2.0], [1, 1])
    saved = dict(
        meta=dict(dataset_meta=parse_pose_metainfo(dict(from_file=str(coco)))),  # arrays
        message_hub=dict(log_scalars={'train/loss': buffer}),
        optimizer=dict(loss_scaler=torch.amp.GradScaler('cpu').state_dict()),  # AMP
        param_schedulers=[dict(milestones=collections.Counter([5]), last_step=np.int64(4))])
    file = io.BytesIO()
    torch.save(saved, file)
    file.seek(0)
    loaded = torch.load(file, weights_only=True)

    sigmas = loaded['meta']['dataset_meta']['sigmas']
    assert isinstance(sigmas, np.ndarray) and sigmas.dtype == np.float32
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 1.5
    assert loaded['optimizer']['loss_scaler']['scale'] == 65536.0
    assert loaded['param_schedulers'][0]['milestones'] == collections.Counter([5])


def test_stock_checkpoints_load_but_getattr_stays_forbidden(tmp_path, digits_mentors):
    # written as a run without the plugin writes it: getattr(HistoryBuffer, 'min'), ...
    stock = tmp_path / 'stock.pth'
    result = run(sys.executable, '-c', (
        'import sys, torch; from mmengine.logging import MessageHub; '
        "hub = MessageHub.get_instance('stock'); hub.update_scalar('train/loss', 1.0); "
        "state = torch.load(sys.argv[1], weights_only=True)['state_dict']; "
        'torch.save(dict(state_dict=state, message_hub=hub.state_dict()), sys.argv[2])'),
        digits_mentors[1]['checkpoint'], stock)
    assert result.returncode == 0, result.stderr
    assert b'getattr' in stock.read_bytes()
    hub = torch.load(stock, weights_only=True)['message_hub']
    assert hub['log_scalars']['train/loss'].mean() == 1.0
    build([digits_mentors[0], dict(digits_mentors[1], checkpoint=str(stock))])

    assert builtins.getattr not in torch.serialization.get_safe_globals()
    for other in (HistoryBuffer.update, np.ndarray.tofile):  # pickled as getattr(owner, name)
        file = io.BytesIO()
        torch.save({'other': other}, file)
        file.seek(0)
        with pytest.raises(pickle.UnpicklingError, match=r'getattr\(.*\) is not allowed'):
            torch.load(file, weights_only=True)

    # nor can a checkpoint replace the statistics methods, which come from code
    assert b'statistics_methods' not in pickle.dumps(HistoryBuffer([1.0], [1]))
    original = dict(HistoryBuffer._statistics_methods)
    buffer = HistoryBuffer()
    try:
        buffer.__setstate__(dict(buffer.__dict__, statistics_methods={'mean': np.float64(0)}))
        assert HistoryBuffer._statistics_methods == original
    finally:
        HistoryBuffer._statistics_methods.update(original)


# 2. Checkpoints


@pytest.fixture(scope='module')
def short_runs(tmp_path_factory, digits_mentors):
    """The stock digits student and its classroom, trained for the same 2 iterations."""
    root = tmp_path_factory.mktemp('short_runs')
    Runner.from_cfg(short(Config.fromfile(STUDENT), root / 'student', 2, 'student')).train()
    Runner.from_cfg(classroom(root / 'classroom', digits_mentors, 2, 'classroom')).train()
    return root


def test_classroom_checkpoint_holds_the_student_and_its_optimizer_only(short_runs):
    student = short_runs / 'student' / 'iter_2.pth'
    classroom_ckpt = short_runs / 'classroom' / 'iter_2.pth'
    checkpoint = torch.load(classroom_ckpt, weights_only=True)
    assert all(key.startswith('student.') for key in checkpoint['state_dict'])
    assert checkpoint['optimizer']['state']  # SGD momentum buffers
    # +0.7% measured (667,812 against 663,332 bytes: the keys' 'student.' prefix, the
    # classroom statistics in the message hub); the smaller mentor alone is 736 KB
    size, stock_size = classroom_ckpt.stat().st_size, student.stat().st_size
    assert 0 <= size - stock_size <= 0.01 * stock_size, (size, stock_size)


def test_test_builds_no_mentor_and_training_loads_their_own_checkpoints(
        short_runs, digits_mentors, tmp_path):
    cfg = Config.fromfile(CLASSROOM)
    cfg.merge_from_dict(dict(work_dir=str(tmp_path), experiment_name='test_load_from',
                             load_from=str(short_runs / 'classroom' / 'iter_2.pth')))
    cfg.model.mentors = digits_mentors
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert 'accuracy/top1' in metrics
    assert len(runner.model.mentors) == 0  # testing needs none

    trained = torch.load(short_runs / 'classroom' / 'iter_2.pth', weights_only=True)
    for key, value in runner.model.state_dict().items():
        assert torch.equal(value, trained['state_dict'][key]), key
    runner.model.train()  # as training starts
    assert len(runner.model.mentors) == len(digits_mentors)
    for mentor, given in zip(runner.model.mentors, digits_mentors):
        own = torch.load(given['checkpoint'], weights_only=True)['state_dict']
        for key, value in mentor.model.state_dict().items():
            assert torch.equal(value, own[key]), key


# 3. Strict mentors


BROKEN = {
    'missing': (lambda s: {k: v for k, v in s.items() if k != 'head.fc.bias'},
                r'missing keys head\.fc\.bias$'),
    'unexpected': (lambda s: dict(s, **{'head.extra.weight': torch.ones(1)}),
                   r'unexpected keys head\.extra\.weight$'),
    'shape': (lambda s: dict(s, **{'head.fc.weight': torch.ones(3, 64)}),
              r'size mismatch for head\.fc\.weight: copying a param with shape '
              r'torch\.Size\(\[3, 64\]\)'),
}


@pytest.mark.parametrize('case', sorted(BROKEN))
def test_mentor_checkpoint_that_does_not_fit(case, digits_mentors, tmp_path):
    edit, message = BROKEN[case]
    state = torch.load(digits_mentors[0]['checkpoint'], weights_only=True)['state_dict']
    broken = tmp_path / f'{case}.pth'
    torch.save({'state_dict': edit(state)}, broken)
    mentors = [dict(digits_mentors[0], checkpoint=str(broken)), digits_mentors[1]]
    where = f"^mentor 'resnet20': checkpoint '{re.escape(str(broken))}'"
    with pytest.raises(ValueError, match=f'{where} does not fit the mentor config: {message}'):
        build(mentors).train()  # training starts: the mentors load their checkpoints


def test_mentor_checkpoint_of_another_architecture_lists_the_first_keys(digits_mentors,
                                                                         tmp_path):
    other = save_random_checkpoint('configs/cls/digits/resnet14_digits.py', tmp_path / 'r14.pth')
    mentors = [dict(digits_mentors[0], checkpoint=other)]
    with pytest.raises(ValueError) as error:
        build(mentors).train()
    message = str(error.value)
    assert message.startswith(f"mentor 'resnet20': checkpoint '{other}' does not fit")
    assert 'missing keys backbone.layer1.2.conv1.weight, ' in message
    assert ' more)' in message and len(message) < 600


def test_unreachable_mentor_url_fails_fast(digits_mentors):
    url = 'http://127.0.0.1:9/classroomkd-unreachable.pth'
    model = build([digits_mentors[0], dict(digits_mentors[1], checkpoint=url)])
    start = time.monotonic()  # training starts: the mentors are built and loaded
    with pytest.raises(RuntimeError, match=f"^mentor 'resnet14': checkpoint '{re.escape(url)}' "
                                           'could not be loaded: .*Connection refused'):
        model.train()
    assert time.monotonic() - start < 10


def test_mentor_config_that_cannot_be_built_names_the_mentor(digits_mentors):
    typo = dict(digits_mentors[1], config='configs/cls/digits/resnet15_digits.py')
    with pytest.raises(ClassroomError, match="^mentor 'resnet14': cannot build its model from "
                                             "'configs/cls/digits/resnet15_digits.py': "):
        build([digits_mentors[0], typo]).train()


def test_nonfinite_mentor_sits_those_batches_out(tmp_path, digits_mentors):
    flaky = Config.fromfile('configs/cls/digits/resnet14_digits.py').model.to_dict()
    flaky['type'] = 'FlakyClassifier'
    mentors = [digits_mentors[0],
               dict(name='flaky', config=flaky,
                    checkpoint=save_random_checkpoint(flaky, tmp_path / 'flaky.pth'))]
    runner = Runner.from_cfg(classroom(tmp_path, mentors, 6, 'nonfinite'))
    runner.train()

    logs = [json.loads(line) for line in
            (Path(runner.log_dir) / 'vis_data' / 'scalars.json').read_text().splitlines()]
    # one line per logging interval of 2 batches: batches 1-2, 3-4 and 5-6
    assert [log['classroom/nonfinite_flaky'] for log in logs] == [1, 1, 0]
    for log in logs:
        assert 'classroom/nonfinite_resnet20' not in log  # nothing to report
        assert all(np.isfinite(log[key]) for key in ('loss', 'loss_task', 'loss_kd'))
    assert all(torch.isfinite(p).all() for p in runner.model.student.parameters())
    text = (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()
    assert text.count("mentor 'flaky' produced NaN or inf outputs") == 1


# 4. Config validation (class counts, an empty mentor list, duplicate names and unknown loss
# arguments: tests/test_cls_distiller.py; pose keypoints and input sizes: the pose tests)


def test_mentor_without_checkpoint(digits_mentors):
    mentor = {k: v for k, v in digits_mentors[1].items() if k != 'checkpoint'}
    with pytest.raises(ClassroomError, match=r"mentor #2 \(resnet14\) lacks \['checkpoint'\]"):
        build([digits_mentors[0], mentor])


def test_mentor_with_an_unknown_key(digits_mentors):
    mentor = dict(digits_mentors[1], weight=0.5)
    with pytest.raises(ClassroomError, match=r"mentor 'resnet14': unknown keys \['weight'\]"):
        build([digits_mentors[0], mentor])


def test_invalid_mentor_autocast(digits_mentors):
    with pytest.raises(ClassroomError, match="mentor_autocast='fp16' is not one of None"):
        build(digits_mentors, mentor_autocast='fp16')


def test_heatmap_task_with_a_classification_student(digits_mentors):
    with pytest.raises(ClassroomError,
                       match="task='heatmap' but the student's outputs are 'cls'"):
        build(digits_mentors, distill_loss=dict(task='heatmap'))


@pytest.mark.parametrize('drop_rate', [-0.1, 1.0])
def test_invalid_drop_rate(digits_mentors, drop_rate):
    with pytest.raises(ValueError, match=rf'drop_rate must be in \[0, 1\), got {drop_rate}'):
        build(digits_mentors, distill_loss=dict(strategy='dgkd', drop_rate=drop_rate))


def test_stock_train_tool_shows_the_error_as_its_last_line(digits_mentors, tmp_path):
    state = torch.load(digits_mentors[1]['checkpoint'], weights_only=True)['state_dict']
    broken = tmp_path / 'broken.pth'
    torch.save({'state_dict': {k: v for k, v in state.items() if k != 'head.fc.bias'}}, broken)
    mentors = [digits_mentors[0], dict(digits_mentors[1], checkpoint=str(broken))]
    config = tmp_path / 'classroom.py'
    config.write_text(f"_base_ = ['{REPO / CLASSROOM}']\nmodel = dict(mentors={mentors!r})\n")
    result = run(sys.executable, STOCK_TRAIN, config, '--work-dir', tmp_path / 'work')
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"ValueError: mentor 'resnet14': checkpoint '{broken}' does not fit the mentor "
        'config: missing keys head.fc.bias')
    assert 'Epoch(train)' not in result.stdout + result.stderr
