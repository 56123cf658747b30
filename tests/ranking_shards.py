"""Test helper for ``sync_ranking``: every process runs ``ClassroomKDLoss(sync_ranking=True)``
on its shard of one batch and saves what the loss returned.

``torch.multiprocessing.spawn(rank_shard, args=(port, out_dir, settings), nprocs=SHARDS)``
runs it on gloo processes; process R writes ``out_dir/rank<R>.pt``, one result per settings.
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F

from classroomkd_plugin.models.losses import ClassroomKDLoss

SHARDS = 2
BATCH = 16


def batch():
    """Logits of a student and 3 mentors on 16 samples of 5 classes, and the labels. Mentor 1
    is better than the student on the first half and worse on the second, so each half alone
    ranks the classroom otherwise than the whole batch; mentor 3's outputs hold a NaN on a
    sample of the second half, so it sits the whole batch out."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 5, (BATCH, ), generator=gen)
    one_hot = F.one_hot(labels, 5).float()
    student = torch.randn(BATCH, 5, generator=gen) + one_hot
    first_half = (torch.arange(BATCH) < BATCH // 2).float()[:, None]
    mentors = [student + 3.0 * (2 * first_half - 1) * one_hot,
               torch.randn(BATCH, 5, generator=gen) + 2.0 * one_hot,
               torch.randn(BATCH, 5, generator=gen) + 1.5 * one_hot]
    mentors[2][BATCH - 4, 0] = float('nan')
    return student, mentors, labels


def shard(rank: int) -> slice:
    size = BATCH // SHARDS
    return slice(rank * size, (rank + 1) * size)


def rank_shard(rank: int, port: int, out_dir: str, settings: list) -> None:
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=SHARDS)
    try:
        student, mentors, labels = batch()
        part = shard(rank)
        results = [
            ClassroomKDLoss(sync_ranking=True, **options)(student[part],
                                                          [m[part] for m in mentors],
                                                          labels[part])
            for options in settings
        ]
        torch.save(results, f'{out_dir}/rank{rank}.pt')
    finally:
        dist.destroy_process_group()
