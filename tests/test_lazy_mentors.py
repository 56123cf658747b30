"""Lazy mentors (``ClassroomDistiller(lazy_mentors=k)``) and compiled mentors
(``mentor_compile``): the schedule, its equivalence with the eager classroom, refusals,
checkpoints and resume."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS
from mmengine.runner import Runner

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.models import ClassroomError
from classroomkd_plugin.models.distillers.lazy_mentors import LazyMentors
from conftest import save_random_checkpoint

STUDENT = 'configs/cls/digits/resnet8_digits.py'
CLASSROOM = 'configs/cls/digits/classroom_resnet8_digits.py'


def scripted_plan(teaching):
    """What ``LazyMentors.observe`` reads from a plan: activity [K, 1] and performances."""
    active = torch.tensor(teaching)[:, None]
    return SimpleNamespace(active=active, performance=torch.rand(len(teaching) + 1, 1))


def test_schedule_skips_silent_mentors_between_checks_and_rejoins():
    # mentor 0 always teaches; mentor 1 is silent on its checks until step 8, mentor 2 always
    teaches = {step: [True, step >= 8, False] for step in range(13)}
    schedule = LazyMentors(3, check_every=4)
    runs = []
    for step in range(13):
        runs.append(schedule.select())
        schedule.observe(scripted_plan(teaches[step]))
    T, F = True, False
    assert runs == [
        [T, T, T],  # 0: nothing known yet, everyone runs; 1 and 2 turn out silent
        [T, F, F], [T, F, F], [T, F, F],
        [T, T, T],  # 4: their checks, still silent
        [T, F, F], [T, F, F], [T, F, F],
        [T, T, T],  # 8: mentor 1's check ranks it above the student
        [T, T, F], [T, T, F], [T, T, F],  # it runs on every step again
        [T, T, T],  # 12: mentor 2's check
    ]
    assert schedule.pop_counts(['a', 'b', 'c']) == pytest.approx(
        dict(ran_a=1.0, ran_b=7 / 13, ran_c=4 / 13, mentor_passes_saved=1 - 24 / 39))
    assert schedule.pop_counts(['a', 'b', 'c']) == {}


def test_skipped_mentor_ranks_on_its_last_performance_and_cannot_teach():
    from classroomkd_plugin.core import ClassroomSettings, ClsLogits, plan_classroom
    labels = torch.tensor([0, 0])
    # log-probabilities of the true class: student log 0.5, peer log 0.8 on both samples
    student = torch.tensor([[0.5, 0.5], [0.5, 0.5]]).log()
    peer = torch.tensor([[0.8, 0.2], [0.8, 0.2]]).log()
    previous = torch.tensor([[0.3], [0.9], [0.1]])  # the skipped teacher was last at w 0.9
    plan, converted, _ = plan_classroom(ClsLogits(), student, [None, peer], [ClsLogits()] * 2,
                                        labels, ClassroomSettings(), previous=previous)
    # the student and the peer now, the teacher as last seen; r = 2 w / (0.5 + 0.9 + 0.8)
    torch.testing.assert_close(plan.performance[:, 0], torch.tensor([0.5, 0.9, 0.8]))
    torch.testing.assert_close(plan.ranks[:, 0], torch.tensor([0.4545455, 0.8181818, 0.7272727]))
    assert plan.active[:, 0].tolist() == [False, True]  # the teacher ranks above but did not run
    assert plan.kd_weight[0, 0] == 0 and converted[0] is None
    # t = 1 + 12 (w_m - w_s) / w_m: the skipped teacher's as the eager classroom would set it
    torch.testing.assert_close(plan.temperature[:, 0], torch.tensor([6.3333333, 5.5]))


def test_processes_that_skipped_a_mentor_rank_as_those_that_ran_it():
    """sync_ranking: a mentor is scored on the samples of the processes that ran it."""
    from classroomkd_plugin.core import performance
    valid, finite = torch.ones(2, dtype=torch.bool), torch.ones(3, 2, dtype=torch.bool)
    previous = torch.tensor([[0.0], [0.7], [0.6]])
    # process 0 ran mentor 1 (log scores -1 and -3) and skipped mentor 2; process 1 skipped
    # both mentors; rows of skipped mentors are zeros
    shards = [(torch.tensor([[-0.5, -0.5], [-1.0, -3.0], [0.0, 0.0]]),
               torch.tensor([True, True, False])),
              (torch.tensor([[-1.5, -0.5], [0.0, 0.0], [0.0, 0.0]]),
               torch.tensor([True, False, False]))]
    sent = {}
    for rank, (scores, ran) in enumerate(shards):  # what each process contributes
        performance(scores, valid, finite, all_reduce=lambda x, rank=rank: sent.setdefault(
            rank, x), ran=ran, previous=previous)
    for rank, (scores, ran) in enumerate(shards):
        w, usable = performance(scores, valid, finite, all_reduce=lambda x: sent[0] + sent[1],
                                ran=ran, previous=previous)
        # student: mean of 4 samples; mentor 1: of process 0's 2; mentor 2: as last seen
        torch.testing.assert_close(w[:, 0], torch.tensor([0.4723666, 0.1353353, 0.6]))
        assert usable[:, 0].all()


class PendingCopy:
    """An event whose copy lands when the test says so."""

    def __init__(self):
        self.landed = False

    def record(self):
        pass

    def query(self):
        return self.landed


def test_schedule_never_waits_for_a_copy_that_has_not_landed():
    schedule = LazyMentors(2, check_every=3)
    events = []

    def buffer(device):  # host memory as on an accelerator, with a controllable event
        host, view, _ = LazyMentors._buffer(schedule, torch.device('cpu'))
        events.append(PendingCopy())
        return host, view, events[-1]

    schedule._buffer = buffer
    assert schedule.select() == [True, True]
    schedule.observe(scripted_plan([True, False]))
    # step 0's flags are still in flight: step 1 decides on what it knew (everyone taught)
    assert schedule.select() == [True, True]
    schedule.observe(scripted_plan([True, False]))
    events[0].landed = True
    # step 0's check has landed (mentor 1 silent); step 1's check is still in flight, and it
    # is the last time mentor 1 ran: its next check is at step 1 + 3
    assert [schedule.select() for _ in range(3)] == [[True, False]] * 2 + [[True, True]]


def biased(distiller, mentor: int, label: int, shift: float = 30.0):
    """Make a mentor predict ``label`` almost surely: its performance is about 1 on samples
    of that label and about exp(-shift) on the others."""
    distiller.mentors[mentor].model.head.fc.bias.data[label] += shift


def build(mentors, seed=0, **options):
    torch.manual_seed(seed)
    model = MODELS.build(dict(type='ClassroomDistiller', student=STUDENT, mentors=mentors,
                              **options))
    model.build_mentors()  # as training starts: the tests reach into the mentors
    return model


def batch(num=8, label=0):
    from mmpretrain.structures import DataSample
    torch.manual_seed(1)
    return torch.randn(num, 3, 16, 16), [DataSample().set_gt_label(label) for _ in range(num)]


def test_every_mentor_active_gives_the_eager_classroom_to_the_bit(digits_mentors):
    """Two mentors that always teach: the lazy classroom trains exactly as the eager one."""
    inputs, samples = batch()
    losses = {}
    for lazy in (None, 2):
        model = build(digits_mentors, lazy_mentors=lazy)
        biased(model, 0, label=0)
        biased(model, 1, label=0)
        optimizer = torch.optim.SGD(model.student.parameters(), lr=0.05, momentum=0.9)
        losses[lazy] = []
        for _ in range(4):
            step = model(inputs, samples, mode='loss')
            sum(step.values()).backward()
            optimizer.step()
            optimizer.zero_grad()
            losses[lazy].append(step)
        stats = model.pop_stats()
        assert stats['active_resnet20'] == stats['active_resnet14'] == 1.0
    assert stats['ran_resnet20'] == stats['ran_resnet14'] == 1.0
    assert stats['mentor_passes_saved'] == 0.0
    for eager, lazy in zip(losses[None], losses[2]):
        for key in ('loss_task', 'loss_kd'):
            assert torch.equal(eager[key], lazy[key]), key


def test_silent_mentor_is_skipped_as_planned_ranked_on_its_last_performance(digits_mentors):
    """A fixed student and batch (performances steady): the lazy classroom skips the silent
    mentor between checks and still computes every loss, rank, temperature and activity of
    the eager one; once the mentor improves, it is back one check later."""
    inputs, samples = batch()
    models = {lazy: build(digits_mentors, lazy_mentors=lazy) for lazy in (None, 3)}
    calls = []
    step = 0
    for model in models.values():
        biased(model, 0, label=0)  # the teacher teaches
        biased(model, 1, label=1)  # the peer ranks far below the student
    models[3].mentors[1].model.register_forward_hook(lambda *_: calls.append(step))
    for step in range(12):
        if step == 8:  # the peer becomes the best model of the classroom
            for model in models.values():
                biased(model, 1, label=1, shift=-30.0)
                biased(model, 1, label=0, shift=40.0)
        out = {lazy: model(inputs, samples, mode='loss') for lazy, model in models.items()}
        stats = {lazy: model.pop_stats() for lazy, model in models.items()}
        if step == 8:  # skipped: silent as of its last check, ranked on its old performance
            assert stats[3]['active_resnet14'] == 0.0 and stats[None]['active_resnet14'] == 1.0
            continue
        assert stats[None]['active_resnet14'] == float(step > 8)
        assert stats[3].pop('ran_resnet14') == float(step in (0, 3, 6, 9, 10, 11))
        assert stats[3].pop('ran_resnet20') == 1.0
        stats[3].pop('mentor_passes_saved')
        assert stats[3] == stats[None]
        for key in ('loss_task', 'loss_kd'):
            assert torch.equal(out[None][key], out[3][key]), (step, key)
    assert calls == [0, 3, 6, 9, 10, 11]


@pytest.mark.parametrize('loss, lazy, message', [
    (dict(strategy='aver'), 4, "strategy 'aver' takes every mentor"),
    (dict(knowledge_filtering=False), 4, 'knowledge_filtering=False every mentor teaches'),
    (dict(granularity='sample'), 4, "granularity='sample' ranks the classroom on every sample"),
    ({}, 1, 'lazy_mentors=1: give the number of steps k >= 2'),
    ({}, True, 'lazy_mentors=True: give the number of steps k >= 2'),
])
def test_lazy_mentors_refused_where_no_mentor_can_be_skipped(digits_mentors, loss, lazy,
                                                              message):
    with pytest.raises(ClassroomError, match='lazy_mentors') as error:
        build(digits_mentors, lazy_mentors=lazy, distill_loss=loss)
    assert message in str(error.value)


def test_mentor_compile_takes_a_bool(digits_mentors):
    with pytest.raises(ClassroomError, match="mentor_compile='reduce-overhead': give True"):
        build(digits_mentors, mentor_compile='reduce-overhead')


def test_compiled_mentors_give_the_eager_outputs(tmp_path):
    mentors = [dict(name='resnet8', config=STUDENT,
                    checkpoint=save_random_checkpoint(STUDENT, tmp_path / 'resnet8.pth'))]
    inputs, samples = batch(16)
    eager = build(mentors)
    torch.manual_seed(0)  # the same student as ``build``
    compiled = MODELS.build(dict(type='ClassroomDistiller', student=STUDENT, mentors=mentors,
                                 mentor_compile=True))
    expected = eager.teach(inputs)[0]
    torch._dynamo.reset()
    # teach() builds the mentors first, as training would: none is compiled while absent
    for _ in range(2):  # compiled on the first call, run from the cache on the second
        torch.testing.assert_close(compiled.teach(inputs)[0], expected, rtol=1e-4, atol=1e-4)
    assert torch._dynamo.utils.counters['stats']['unique_graphs'] == 1
    losses = [model(inputs, samples, mode='loss') for model in (eager, compiled)]
    for key in ('loss_task', 'loss_kd'):
        torch.testing.assert_close(losses[1][key], losses[0][key], rtol=1e-4, atol=1e-5)


def test_checkpoints_and_resume_with_lazy_mentors(tmp_path, digits_mentors):
    """The schedule is not in checkpoints: they hold the student as without lazy mentors, and
    a resumed run starts a fresh schedule (every mentor runs on its first step)."""
    mentors = [dict(m) for m in digits_mentors]
    state = torch.load(mentors[1]['checkpoint'])
    state['state_dict']['head.fc.bias'][3] += 30.0  # a peer below the student on every batch
    mentors[1]['checkpoint'] = str(tmp_path / 'silent_peer.pth')
    torch.save(state, mentors[1]['checkpoint'])

    def cfg(name, **extra):
        cfg = Config.fromfile(CLASSROOM)
        cfg.model.mentors = mentors
        cfg.model.lazy_mentors = 2
        cfg.work_dir = str(tmp_path / 'run')
        cfg.experiment_name = name
        cfg.train_dataloader.batch_size = 16
        cfg.train_dataloader.dataset.dataset.indices = 96  # 6 iterations an epoch
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=6)
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=3)
        cfg.custom_hooks = [dict(type='ClassroomHook', interval=3)]
        cfg.merge_from_dict(extra)
        return cfg

    first = Runner.from_cfg(cfg('first', train_cfg=dict(max_iters=3)))
    first.train()
    keys = torch.load(tmp_path / 'run' / 'iter_3.pth')['state_dict'].keys()
    assert set(keys) == {f'student.{key}' for key in first.model.student.state_dict()}

    resumed = Runner.from_cfg(cfg('resumed', resume=True,
                                  load_from=str(tmp_path / 'run' / 'iter_3.pth')))
    calls = [[], []]
    resumed.model.build_mentors()  # train() would: the hooks go on the built mentors
    for mentor, passes in zip(resumed.model.mentors, calls):
        mentor.model.register_forward_hook(lambda *_, passes=passes: passes.append(1))
    resumed.train()
    assert resumed.iter == 6
    # iterations 3, 4, 5 are steps 0, 1, 2 of a fresh schedule: the peer runs on 0 and 2
    # (the uninterrupted schedule would have run it on iteration 4 only)
    assert len(calls[1]) == 2
    scalars = resumed.message_hub.log_scalars
    assert scalars['train/classroom/ran_resnet14'].current() == pytest.approx(2 / 3)
    # the random teacher may rank below the student too: the saving is counted from the passes
    saved = 1 - (len(calls[0]) + len(calls[1])) / 6
    assert scalars['train/classroom/mentor_passes_saved'].current() == pytest.approx(saved)
