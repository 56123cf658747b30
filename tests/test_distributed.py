"""Multi-process training on the CPU: tools/dist_train.sh with 2 gloo processes.

Each run writes, per process, the classroom statistics it logged and a checksum of its
student's parameters (tests/per_rank_stats.py), so the test sees every process, not only
rank 0 (the only one MMEngine logs on).
"""
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest
import torch

import ranking_shards
from classroomkd_plugin.models.losses import ClassroomKDLoss
from conftest import REPO, save_random_checkpoint
from pose_data import write_coco

TESTS = Path(__file__).resolve().parent
CLASSROOM = REPO / 'configs' / 'cls' / 'digits' / 'classroom_resnet8_digits.py'
RTMPOSE_T = 'mmpose::body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py'

# shared by both test configs: log every iteration, every process writes its statistics
PER_RANK = """
custom_imports = dict(imports=['classroomkd_plugin', 'per_rank_stats'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='ClassroomHook', interval=1), dict(type='PerRankStatsHook')]
train_cfg = dict(max_epochs=1)
val_cfg = None
val_dataloader = None
val_evaluator = None
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(config: Path, work_dir: Path) -> list:
    """Train ``config`` on 2 processes; return what each process recorded."""
    env = dict(os.environ, PORT=str(free_port()), PYTHONWARNINGS='ignore',
               PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get('PYTHONPATH', '')]))
    result = subprocess.run(
        ['bash', str(REPO / 'tools' / 'dist_train.sh'), str(config), '2', '--work-dir',
         str(work_dir)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "backend': 'gloo'" in result.stdout + result.stderr
    return [json.loads((work_dir / f'stats_rank{rank}.json').read_text()) for rank in (0, 1)]


def cls_classroom(tmp_path: Path, mentors, sync: bool) -> Path:
    config = tmp_path / f'classroom_sync_{sync}.py'
    config.write_text(f"""
_base_ = ['{CLASSROOM}']
model = dict(mentors={mentors!r}, distill_loss=dict(sync_ranking={sync}))
train_dataloader = dict(batch_size=16, dataset=dict(dataset=dict(indices=96)))
{PER_RANK}""")
    return config


@pytest.fixture(scope='module')
def cls_runs(tmp_path_factory, digits_mentors):
    """The digits classroom for 3 iterations on 2 processes, with and without sync_ranking."""
    root = tmp_path_factory.mktemp('dist_cls')
    return {sync: dist_train(cls_classroom(root, digits_mentors, sync), root / f'sync_{sync}')
            for sync in (True, False)}


@pytest.mark.parametrize('sync', [True, False])
def test_processes_train_one_student(cls_runs, sync):
    rank0, rank1 = cls_runs[sync]
    assert len(rank0['iterations']) == len(rank1['iterations']) == 3
    assert 'r_s' in rank0['iterations'][0] and 'r_resnet20' in rank0['iterations'][0]
    # DDP averaged the gradients: the processes hold the same student
    assert rank0['param_checksum'] == rank1['param_checksum']


def test_sync_ranking_gives_every_process_the_same_ranking(cls_runs):
    rank0, rank1 = cls_runs[True]
    assert rank0['iterations'] == rank1['iterations']


def test_without_sync_each_process_ranks_its_own_shard(cls_runs):
    rank0, rank1 = cls_runs[False]
    differ = [a['r_s'] != b['r_s'] for a, b in zip(rank0['iterations'], rank1['iterations'])]
    assert all(differ)


SYNC_SETTINGS = [dict(), dict(performance='arithmetic'), dict(ranking='uniform')]


def test_sync_ranking_ranks_every_shard_as_one_process_ranks_the_whole_batch(tmp_path):
    """2 gloo processes, each with half of a batch, against one process with all of it: the
    same ranks, temperatures and active mentors (a NaN on one shard takes the mentor out on
    both), and the mean of the processes' losses (what DDP's gradient averaging minimises) is
    the whole batch's loss."""
    torch.multiprocessing.spawn(ranking_shards.rank_shard,
                                args=(free_port(), str(tmp_path), SYNC_SETTINGS),
                                nprocs=ranking_shards.SHARDS)
    shards = [torch.load(tmp_path / f'rank{rank}.pt') for rank in range(ranking_shards.SHARDS)]
    student, mentors, labels = ranking_shards.batch()
    for i, options in enumerate(SYNC_SETTINGS):
        whole = ClassroomKDLoss(**options)(student, mentors, labels)
        assert whole['active_mentor3'] == 0
        # nonfinite_* counts a process's own batches (the NaN is on one shard only)
        ranking = [key for key in whole if not key.startswith(('loss', 'nonfinite'))]
        for results in shards:
            for key in ranking:
                assert results[i][key].item() == pytest.approx(whole[key].item(), rel=1e-6), key
        mean = sum(results[i]['loss_task'] + results[i]['loss_kd'] for results in shards) / 2
        assert mean.item() == pytest.approx((whole['loss_task'] + whole['loss_kd']).item(),
                                            rel=1e-5)
        # what the sync changes: each half alone ranks the classroom otherwise
        part = ranking_shards.shard(0)
        alone = ClassroomKDLoss(**options)(student[part], [m[part] for m in mentors],
                                           labels[part])
        assert any(alone[key].item() != pytest.approx(whole[key].item(), rel=1e-3)
                   for key in ranking)


def pose_classroom(root: Path) -> Path:
    """RTMPose-t at 64x64 on a synthetic COCO set (4 images, 8 persons), taught by an
    RTMPose-t with random weights."""
    data = write_coco(root / 'coco', num_images=4)
    student = root / 'rtmpose_t_64.py'
    student.write_text(f"""
_base_ = ['{RTMPOSE_T}']
codec = dict(type='SimCCLabel', input_size=(64, 64), sigma=(1.6, 1.6), simcc_split_ratio=2.0,
             normalize=False, use_dark=False)
model = dict(backbone=dict(init_cfg=None),
             head=dict(input_size=(64, 64), in_featuremap_size=(2, 2), decoder=codec),
             test_cfg=dict(flip_test=False))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(64, 64)),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root='{data['data_root']}', ann_file='{data['ann_file']}',
                 data_prefix=dict(img=''), pipeline=train_pipeline))
""")
    mentor = save_random_checkpoint(str(student), root / 'mentor.pth')
    classroom = root / 'classroom_rtmpose_t_64.py'
    classroom.write_text(f"""
_base_ = ['{student}']
model = dict(
    _delete_=True,
    type='ClassroomDistiller',
    student='{student}',
    mentors=[dict(name='rtmpose_t', config='{student}', checkpoint='{mentor}')],
    distill_loss=dict(type='ClassroomKDLoss', sync_ranking=True))
default_hooks = dict(checkpoint=dict(save_best=None))
{PER_RANK}""")
    return classroom


def test_pose_classroom_on_two_processes(tmp_path):
    rank0, rank1 = dist_train(pose_classroom(tmp_path), tmp_path / 'work')
    assert len(rank0['iterations']) == 2 and 'r_rtmpose_t' in rank0['iterations'][0]
    assert rank0['iterations'] == rank1['iterations']
    assert rank0['param_checksum'] == rank1['param_checksum']


def test_lazy_mentors_with_sync_ranking_run_the_same_mentors_everywhere(tmp_path,
                                                                          digits_mentors):
    """Decisions come from all-reduced statistics: both processes skip the same passes."""
    import torch
    mentors = [dict(m) for m in digits_mentors]
    state = torch.load(mentors[1]['checkpoint'])
    state['state_dict']['head.fc.bias'][3] += 30.0  # a peer below the student on every batch
    mentors[1]['checkpoint'] = str(tmp_path / 'silent_peer.pth')
    torch.save(state, mentors[1]['checkpoint'])
    config = tmp_path / 'classroom_lazy.py'
    config.write_text(f"""
_base_ = ['{CLASSROOM}']
model = dict(mentors={mentors!r}, lazy_mentors=2, distill_loss=dict(sync_ranking=True))
train_dataloader = dict(batch_size=16, dataset=dict(dataset=dict(indices=128)))
{PER_RANK}""")
    rank0, rank1 = dist_train(config, tmp_path / 'work')
    assert rank0['iterations'] == rank1['iterations']
    assert [it['ran_resnet14'] for it in rank0['iterations']] == [1.0, 0.0, 1.0, 0.0]
    assert rank0['param_checksum'] == rank1['param_checksum']
