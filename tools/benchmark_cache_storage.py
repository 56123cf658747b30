"""What ``mentor_cache``'s storage layouts cost in fidelity: float16 and top-k logits against
the mentors' float32 logits, on the same batches.

For each layout it reports the largest logit error (top-k: over the stored logits and over
all), the relative error of ClassroomKD's distillation term, the largest rank-score error and
the fraction of batches on which the same mentors teach (Knowledge Filtering's decision).

    python tools/benchmark_cache_storage.py CONFIG [--student-checkpoint S.pth]
        [--batches 20] [--topk 1 2 5] [--synthetic [--batch-size 64]] [--no-filtering]

Batches come from the config's val dataloader, or with ``--synthetic`` are random images with
the student's labels (as ``benchmark_speed.py`` makes them; mentors without a local checkpoint
get random weights there). Without ``--student-checkpoint`` the student is randomly
initialised. The KD term's error is over the batches on which some mentor teaches; with
``--no-filtering`` every mentor does (Knowledge Filtering off: its decision is then not
measured).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner, load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_speed import build_distiller, synthetic_batch  # noqa: E402

from classroomkd_plugin.models.distillers.mentor_cache import decode, encode  # noqa: E402


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--student-checkpoint')
    parser.add_argument('--batches', type=int, default=20)
    parser.add_argument('--topk', type=int, nargs='*', default=[1, 2, 5])
    parser.add_argument('--synthetic', action='store_true')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--no-filtering', action='store_true')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def batches(distiller, cfg: Config, args):
    if args.synthetic:
        for i in range(args.batches):
            torch.manual_seed(i)
            yield synthetic_batch(distiller, args.batch_size, None, args.device)
        return
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        loader = Runner.build_dataloader(cfg.val_dataloader)
    for i, batch in enumerate(loader):
        if i == args.batches:
            return
        data = distiller.data_preprocessor(batch, False)
        yield data['inputs'], data['data_samples']


@torch.no_grad()
def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.no_filtering:
        cfg.model.distill_loss.knowledge_filtering = False
    layouts = [('float16', None)] + [('float16', k) for k in args.topk] + \
        [('float32', k) for k in args.topk]
    errors = {layout: dict(logit=0.0, stored=0.0, kd=[], rank=0.0, agree=0) for layout in layouts}
    with tempfile.TemporaryDirectory() as workdir:
        distiller = build_distiller(cfg, args, Path(workdir), {}).eval()
        if args.student_checkpoint:
            load_checkpoint(distiller.student, args.student_checkpoint, map_location='cpu',
                            revise_keys=[(r'^student\.', '')])
        distiller.build_mentors()
        task = distiller.student_task
        names = distiller.mentor_names[:len(distiller.mentors)]
        count = 0
        for inputs, samples in batches(distiller, cfg, args):
            student, targets = task.outputs(inputs), task.targets(samples)
            mentors = torch.stack(distiller.teach(inputs), dim=1).float()  # [B, K, C]
            reference = distiller.distill_loss(student, list(mentors.unbind(1)), targets,
                                             rep=task.rep, mentor_names=names)
            for dtype, topk in layouts:
                stored = encode(mentors, targets, dtype, topk)
                rebuilt = decode(stored, mentors.size(-1))
                error = errors[dtype, topk]
                error['logit'] = max(error['logit'], (rebuilt - mentors).abs().max().item())
                if topk:
                    kept = torch.from_numpy(stored['classes']).long()
                    error['stored'] = max(error['stored'], (rebuilt.gather(-1, kept) -
                                                            mentors.gather(-1, kept)).abs().max()
                                          .item())
                result = distiller.distill_loss(student, list(rebuilt.unbind(1)), targets,
                                              rep=task.rep, mentor_names=names)
                if reference['loss_kd'] > 0:
                    error['kd'].append(abs(result['loss_kd'] / reference['loss_kd'] - 1).item())
                error['rank'] = max(error['rank'], max(
                    abs(result[f'r_{n}'] - reference[f'r_{n}']).item() for n in names + ['s']))
                error['agree'] += all(torch.equal(result[f'active_{n}'],
                                                  reference[f'active_{n}']) for n in names)
            count += 1
    source = 'synthetic batches' if args.synthetic else 'val batches'
    print(f'{args.config}: {count} {source}, {len(names)} mentors, '
          f'{mentors.size(-1)} classes, student '
          f"{args.student_checkpoint or 'randomly initialised'}")
    print('| storage | max logit error (stored / all) | KD term, mean relative error '
          '| max rank error | same mentors teach |\n| --- | --- | --- | --- | --- |')
    for (dtype, topk), error in errors.items():
        stored = f"{error['stored']:.2e} / " if topk else ''
        print(f"| {dtype}{f', top-{topk}' if topk else ''} | {stored}{error['logit']:.2e} "
              f"| {_mean(error['kd'])} | {error['rank']:.2e} "
              f"| {error['agree']}/{count} |")


def _mean(values) -> str:
    return f'{sum(values) / len(values):.2e} ({len(values)} batches)' if values else 'no KD'


if __name__ == '__main__':
    main()
