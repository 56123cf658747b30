"""mentor_cache: mentor outputs computed once and replayed, identical to live teaching; the
deterministic views it keys on; its refusals."""
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import DefaultSampler, InfiniteSampler, pseudo_collate
from mmengine.hooks import Hook
from mmengine.registry import TRANSFORMS, DefaultScope
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch.utils.data import DataLoader

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.datasets import DeterministicViews, ViewSampler
from classroomkd_plugin.models.distillers.classroom_distiller import (ClassroomDistiller,
                                                                     ClassroomError)
from classroomkd_plugin.models.distillers.mentor_cache import (MentorCache, MentorCacheError,
                                                               decode, encode, entry_bytes)

from conftest import save_random_checkpoint

CLASSROOM = 'configs/cls/digits/classroom_resnet8_digits.py'
DIGITS = dict(type='Digits', split='train', indices=40, pipeline=[
    dict(type='Resize', scale=(16, 16)), dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs')])


@pytest.fixture(autouse=True)
def mmpretrain_scope():
    """Datasets built outside a Runner: the scope a classification config's Runner sets; and
    the deterministic algorithms the runs below switch on, switched back for the next tests."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        yield
    torch.use_deterministic_algorithms(deterministic)


def views_of(dataset, batch_size: int, workers: int, epochs=(0, 1)) -> dict:
    """{(view, index): image} over ``epochs`` of a ViewSampler-fed loader."""
    sampler = ViewSampler(dict(type='DefaultSampler', shuffle=True), dataset, seed=3)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                        collate_fn=pseudo_collate)
    seen = {}
    for epoch in epochs:
        sampler.set_epoch(epoch)
        for batch in loader:
            for image, sample in zip(batch['inputs'], batch['data_samples']):
                seen[sample.view, sample.sample_idx] = image
    return seen


def test_a_view_depends_on_the_seed_pass_and_index_only():
    dataset = DeterministicViews(DIGITS)
    one = views_of(dataset, batch_size=7, workers=0)
    two = views_of(dataset, batch_size=16, workers=2)
    assert one.keys() == two.keys() == {(v, i) for v in (0, 1) for i in range(40)}
    assert all(torch.equal(one[key], two[key]) for key in one)
    # the passes differ: the crops are drawn anew (25 offsets, so some repeat by chance)
    same = sum(torch.equal(one[0, i], one[1, i]) for i in range(40))
    assert same < 10
    # the process' generators draw on as if the pipeline had not run
    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    dataset[(3, 0, 5)]
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])
    # an integer key is the plain dataset's sample, with no view in it
    assert 'view' not in dataset[5]['data_samples']


def test_infinite_sampler_passes_follow_the_global_stream():
    dataset = DeterministicViews(dict(DIGITS, indices=10))
    sampler = ViewSampler(dict(type='InfiniteSampler', shuffle=False), dataset, seed=0)
    keys = [key for key, _ in zip(sampler, range(25))]
    assert [k.view for k in keys] == [0] * 10 + [1] * 10 + [2] * 5
    assert [k.index for k in keys[:12]] == list(range(10)) + [0, 1]
    cycled = ViewSampler(dict(type='InfiniteSampler', shuffle=False), dataset, seed=0)
    cycled.cycle = 2
    assert [k.view for k, _ in zip(cycled, range(25))] == [0] * 10 + [1] * 10 + [0] * 5
    assert isinstance(sampler.sampler, InfiniteSampler)


def test_view_sampler_needs_deterministic_views_and_a_known_sampler():
    with pytest.raises(TypeError, match="wrap it: dataset=dict\\(type='DeterministicViews'"):
        ViewSampler(dict(type='DefaultSampler'), list(range(4)))
    dataset = DeterministicViews(dict(DIGITS, indices=4))
    # repeated augmentation draws several views of a sample in one pass
    with pytest.raises(TypeError, match='not RepeatAugSampler'):
        ViewSampler(dict(type='RepeatAugSampler'), dataset)
    assert isinstance(ViewSampler(dict(type='DefaultSampler'), dataset).sampler, DefaultSampler)


@TRANSFORMS.register_module(force=True)
class JitterWithOwnGenerator:
    """A transform that keeps its own generator: per-sample seeding cannot reach it."""

    def __init__(self):
        self.rng = np.random.default_rng()

    def __call__(self, results):
        return results


def test_a_transform_with_its_own_generator_is_refused_by_name():
    pipeline = [dict(type='JitterWithOwnGenerator'), dict(type='PackInputs')]
    with pytest.raises(ValueError, match=r'JitterWithOwnGenerator\.rng \(Generator\)'):
        DeterministicViews(dict(DIGITS, pipeline=pipeline))


def test_top_k_storage_keeps_the_label_and_the_mean_of_the_rest():
    logits = torch.tensor([[[3., 1., 0., -1., 2.]], [[3., 1., 0., -1., 2.]]])  # [B=2, K=1, C=5]
    stored = encode(logits, torch.tensor([3, 0]), 'float32', topk=2)
    # label 3 is not among the top 2 (classes 0, 4): it takes the third slot; the others,
    # classes 1 and 2, are stored as their mean 0.5. Label 0 is: the third slot is class 1.
    assert stored['classes'].tolist() == [[[0, 4, 3]], [[0, 4, 1]]]
    assert decode(stored, 5).tolist() == [[[3., .5, .5, -1., 2.]], [[3., 1., -.5, -.5, 2.]]]
    full = encode(logits, torch.tensor([3, 0]), 'float16', topk=None)
    assert full['logits'].dtype == np.float16 and torch.equal(decode(full, 5), logits)
    # bytes a sample takes, 3 mentors, CIFAR-100: 3*100*2 in float16, 3*(6*(2+2)+2) for top-5
    assert entry_bytes(3, 100, 'float16', None) == 600
    assert entry_bytes(3, 100, 'float16', 5) == 78
    assert entry_bytes(3, 100, 'float32', None) == 1200


class Losses(Hook):
    """Every iteration's losses, as floats."""

    def __init__(self):
        self.values = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.values.append({k: float(v.detach()) for k, v in outputs.items()})


def classroom(tmp_path: Path, name: str, mentors, epochs: int = 2, workers: int = 0,
              **cache) -> Config:
    cfg = Config.fromfile(CLASSROOM)
    cfg.model.mentors = mentors
    if cache:
        cfg.model.mentor_cache = cache
    cfg.work_dir = str(tmp_path / name)
    cfg.experiment_name = name
    cfg.randomness = dict(seed=0, deterministic=True)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=epochs + 1)
    cfg.train_dataloader.batch_size = 16
    cfg.train_dataloader.num_workers = workers
    cfg.train_dataloader.dataset.dataset.indices = 48  # 3 iterations an epoch
    cfg.val_dataloader.dataset.indices = 32
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    return cfg


def train(cfg: Config):
    runner = Runner.from_cfg(cfg)
    losses = Losses()
    runner.register_hook(losses)
    runner.train()
    student = {k: v.clone() for k, v in runner.model.student.state_dict().items()}
    return runner, losses.values, student


def test_replay_equals_live_teaching(tmp_path, digits_mentors):
    """Live, filling and replaying runs give the same losses and student, bit for bit; the
    replaying run builds no mentor and reports the mentor check recorded when filling."""
    cache = str(tmp_path / 'cache')
    _, live, student = train(classroom(tmp_path, 'live', digits_mentors))
    fill_runner, filled, filled_student = train(
        classroom(tmp_path, 'fill', digits_mentors, dir=cache))
    assert fill_runner.model.mentor_cache.replays is False
    replay_runner, replayed, replayed_student = train(
        classroom(tmp_path, 'replay', digits_mentors, workers=2, dir=cache))
    assert replay_runner.model.mentor_cache.replays is True
    assert len(replay_runner.model.mentors) == 0  # never built
    assert len(live) == len(filled) == len(replayed) == 6
    assert live == filled == replayed
    for key in student:
        assert torch.equal(student[key], filled_student[key]), key
        assert torch.equal(student[key], replayed_student[key]), key
    log = (Path(replay_runner.log_dir) / f'{replay_runner.timestamp}.log').read_text()
    assert 'replays it, no mentor runs' in log
    assert 'recorded when' in log and 'resnet20' in log
    assert sorted(p.name for p in Path(cache).iterdir()) == ['meta.json', 'view_00000',
                                                             'view_00001']


def test_interrupted_fill_resumes_and_cycled_passes(tmp_path, digits_mentors):
    cache = str(tmp_path / 'cache')
    # one epoch of a two-pass cache, then the two-epoch run fills the second pass only
    train(classroom(tmp_path, 'first', digits_mentors, epochs=1, dir=cache))
    runner, filled, _ = train(classroom(tmp_path, 'second', digits_mentors, dir=cache))
    log = (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()
    assert 'resumes filling it (48/96 entries there)' in log
    runner, replayed, _ = train(classroom(tmp_path, 'third', digits_mentors, dir=cache))
    assert runner.model.mentor_cache.replays and replayed == filled
    # passes=1: four epochs cycle one stored pass; the mentors run in the first only, and the
    # replay equals the filling run
    cycled = str(tmp_path / 'cycled')
    cfg = classroom(tmp_path, 'c1', digits_mentors, epochs=4, dir=cycled, passes=1)
    runner = Runner.from_cfg(cfg)
    losses, taught = Losses(), []
    runner.register_hook(losses)
    teach = runner.model.teach
    runner.model.teach = lambda *args: taught.append(1) or teach(*args)
    runner.train()
    filled = losses.values
    assert len(taught) == 3 and len(filled) == 12
    assert [p.name for p in Path(cycled).glob('view_*')] == ['view_00000']
    runner, replayed, _ = train(classroom(tmp_path, 'c2', digits_mentors, epochs=4,
                                          dir=cycled, passes=1))
    assert runner.model.mentor_cache.replays and replayed == filled


@pytest.mark.parametrize('sampler', ['DefaultSampler', 'InfiniteSampler'])
def test_iteration_based_runs_store_and_replay_every_pass(tmp_path, digits_mentors, sampler):
    """7 iterations of 16 samples of 48: three passes, the third partly drawn."""
    def iteration_based(name):
        cfg = classroom(tmp_path, name, digits_mentors, dir=str(tmp_path / 'cache'))
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=7, val_interval=8)
        cfg.train_dataloader.sampler.sampler.type = sampler
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=8)
        return cfg

    fill_runner, filled, student = train(iteration_based('fill'))
    assert fill_runner.model.mentor_cache.replays is False
    runner, replayed, again = train(iteration_based('replay'))
    assert runner.model.mentor_cache.replays and len(runner.model.mentors) == 0
    assert len(filled) == 7 and filled == replayed
    assert all(torch.equal(student[k], again[k]) for k in student)
    assert sorted(p.name for p in (tmp_path / 'cache').glob('view_*')) == [
        'view_00000', 'view_00001', 'view_00002']


def test_float16_storage_teaches_the_filling_run_as_it_replays(tmp_path, digits_mentors):
    cache = str(tmp_path / 'cache')
    _, live, _ = train(classroom(tmp_path, 'live', digits_mentors, epochs=1))
    _, filled, student = train(classroom(tmp_path, 'fill', digits_mentors, epochs=1, dir=cache,
                                         dtype='float16'))
    _, replayed, again = train(classroom(tmp_path, 'replay', digits_mentors, epochs=1,
                                         dir=cache, dtype='float16'))
    assert filled == replayed and all(torch.equal(student[k], again[k]) for k in student)
    assert filled != live  # rounded logits: close, not equal
    assert filled[0]['loss_kd'] == pytest.approx(live[0]['loss_kd'], rel=1e-2)


def test_a_cache_filled_for_other_mentors_or_views_is_refused(tmp_path, digits_mentors):
    cache = str(tmp_path / 'cache')
    train(classroom(tmp_path, 'fill', digits_mentors, epochs=1, dir=cache))
    retrained = [dict(m) for m in digits_mentors]
    retrained[1]['checkpoint'] = save_random_checkpoint(retrained[1]['config'],
                                                        tmp_path / 'other.pth')
    with pytest.raises(MentorCacheError, match='filled for another classroom') as error:
        train(classroom(tmp_path, 'other_mentor', retrained, epochs=1, dir=cache))
    assert 'mentors: the cache has' in str(error.value)
    cfg = classroom(tmp_path, 'other_crop', digits_mentors, epochs=1, dir=cache)
    cfg.train_dataloader.dataset.dataset.pipeline[1].padding = 3
    with pytest.raises(MentorCacheError, match='views: the cache has'):
        train(cfg)
    with pytest.raises(MentorCacheError, match="dtype: the cache has \"float32\", this run "
                                               "\"float16\""):
        train(classroom(tmp_path, 'fp16', digits_mentors, epochs=1, dir=cache,
                        dtype='float16'))


def test_a_missing_entry_names_the_pass_and_the_sample(tmp_path):
    cache = MentorCache(str(tmp_path / 'cache'))
    open_args = (dict(mentors='m'), 4, 3, ['a'], {0: None})
    cache.open(*open_args, log=lambda line: None)
    samples = [DataSample(metainfo=dict(view=0, sample_idx=i)) for i in range(4)]
    logits = torch.arange(12.).view(4, 3)
    taught = cache.outputs(samples, torch.zeros(4, dtype=torch.long), lambda: [logits])
    assert torch.equal(taught[0], logits)
    # stored now (buffered): the same batch again is replayed, the mentors do not run
    assert torch.equal(cache.outputs(samples, torch.zeros(4), None)[0], logits)
    cache.flush()
    again = MentorCache(str(tmp_path / 'cache'))
    again.open(*open_args, log=lambda line: None)
    assert again.replays
    assert torch.equal(again.outputs(samples[::-1], torch.zeros(4), None)[0], logits.flip(0))
    fresh = MentorCache(str(tmp_path / 'cache'))
    fresh.open(*open_args, log=lambda line: None)
    for shard in (tmp_path / 'cache' / 'view_00000').iterdir():
        shard.unlink()
    with pytest.raises(MentorCacheError, match='no entry for pass \\(view\\) 0, sample index 0'):
        fresh.outputs(samples, torch.zeros(4), None)
    unkeyed = [DataSample() for _ in range(4)]
    with pytest.raises(MentorCacheError, match="carry no 'view'"):
        again.outputs(unkeyed, torch.zeros(4), None)


def test_classrooms_the_cache_cannot_serve_are_refused_before_training(tmp_path,
                                                                       digits_mentors):
    def build(**changes):
        cfg = Config.fromfile(CLASSROOM).model
        cfg.update(dict(dict(mentors=digits_mentors, mentor_cache=dict(dir=str(tmp_path))),
                        **changes))
        cfg.pop('type')
        return ClassroomDistiller(**cfg)

    with pytest.raises(ClassroomError, match='lazy_mentors has nothing to skip'):
        build(lazy_mentors=2)
    with pytest.raises(ClassroomError, match=r"batch augments \['Mixup'\]"):
        build(data_preprocessor=dict(
            type='mmpretrain.ClsDataPreprocessor', num_classes=10,
            batch_augments=dict(augments=[dict(type='Mixup', alpha=1.0)])))
    with pytest.raises(ClassroomError, match=r"unknown keys \['top_k'\]"):
        build(mentor_cache=dict(dir=str(tmp_path), top_k=5))
    with pytest.raises(ClassroomError, match="dtype='bfloat16' is not one of"):
        build(mentor_cache=dict(dir=str(tmp_path), dtype='bfloat16'))
    cfg = classroom(tmp_path, 'plain_sampler', digits_mentors, epochs=1, dir=str(tmp_path))
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=True)
    with pytest.raises(MentorCacheError, match="sampler=dict\\(type='ViewSampler'"):
        train(cfg)


def test_pose_outputs_are_refused_with_the_storage_arithmetic():
    cfg = Config.fromfile('configs/pose/classroom_rtmpose-t_coco-256x192.py').model
    cfg.pop('type')
    cfg.update(mentor_cache=dict(dir='unused'))
    with pytest.raises(ClassroomError, match='17x64x48 float16 heatmap takes 104 KB') as error:
        ClassroomDistiller(**cfg)
    assert 'lazy_mentors or mentor_autocast' in str(error.value)
