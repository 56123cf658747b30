"""A classroom from image_classification_sota's command line (docs/sota.md): its argument
names, its ``build_model`` signature and its ``train_epoch`` call order, on the CPU.

That code base is not a package, so two small stand-ins play its parts: ``sota_parser`` has the
names and defaults of the arguments its KD path reads (``lib/utils/args.py``), and
``build_model`` its signature and ``timm_`` prefix (``lib/models/builder.py``), building small
timm models with random weights. Everything else is real: timm models, DDP over a one-process
gloo group with the fp16 gradient-compression hook its ``tools/train.py`` registers, bf16
autocast, our functions.
"""
import argparse
import copy

import pytest
import timm
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.algorithms.ddp_comm_hooks import default as comm_hooks
from torch.nn.parallel import DistributedDataParallel as DDP

from classroomkd_plugin.sota import add_classroom_arguments, build_classroom_loss

NUM_CLASSES = 10
STUDENT, TEACHER, PEER = 'timm_mobilenetv3_small_050', 'timm_resnet10t', 'timm_lcnet_050'


class KeyValues(argparse.Action):
    """Its --kd-loss-kwargs: ``key=value`` words into a dict of strings."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, dict(value.split('=', 1) for value in values))


def sota_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', default='nas_model')
    parser.add_argument('--smoothing', type=float, default=0.1)
    parser.add_argument('--mixup', type=float, default=0.)
    parser.add_argument('--cutmix', type=float, default=0.)
    parser.add_argument('--cutmix-minmax', type=float, nargs='+', default=None)
    parser.add_argument('--auxiliary', action='store_true')
    parser.add_argument('--kd', default='')
    parser.add_argument('--teacher-model', default='')
    parser.add_argument('--teacher-pretrained', action='store_true')
    parser.add_argument('--teacher-no-pretrained', action='store_false', dest='teacher_pretrained')
    parser.set_defaults(teacher_pretrained=True)
    parser.add_argument('--teacher-ckpt', default='')
    parser.add_argument('--kd-loss-weight', type=float, default=1.)
    parser.add_argument('--ori-loss-weight', type=float, default=1.)
    parser.add_argument('--kd-loss-kwargs', nargs='*', action=KeyValues)
    add_classroom_arguments(parser)  # the line docs/sota.md adds
    return parser


def parse(command: str) -> argparse.Namespace:
    args = sota_parser().parse_args(command.split())
    args.num_classes, args.input_shape = NUM_CLASSES, (3, 32, 32)  # as its build_dataloader
    return args


class Zoo:
    """Its ``build_model(args, model_name, pretrained=False, pretrained_ckpt='')`` for
    ``timm_<name>`` models; records the ``pretrained`` it was asked for (no download here)."""

    def __init__(self):
        self.pretrained = {}

    def __call__(self, args, model_name, pretrained=False, pretrained_ckpt=''):
        self.pretrained[model_name] = pretrained
        return timm.create_model(model_name[len('timm_'):], num_classes=args.num_classes)


def save_checkpoint(name: str, path, num_classes: int = NUM_CLASSES) -> str:
    """A checkpoint as its CheckpointManager writes it: the weights under 'model'."""
    model = timm.create_model(name[len('timm_'):], num_classes=num_classes)
    torch.save({'epoch': 239, 'model': model.state_dict(), 'optimizer': None}, path)
    return str(path)


@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Random-init mentor checkpoints, and the peer's with 100 classes."""
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp('mentors')
    paths = {name: save_checkpoint(name, root / f'{name}.pth') for name in (TEACHER, PEER)}
    paths['peer_100'] = save_checkpoint(PEER, root / 'peer_100.pth', num_classes=100)
    return paths


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    yield
    dist.destroy_process_group()


def soft_cross_entropy(logits, target):
    """Its SoftTargetCrossEntropy, the criterion it picks with mixup or cutmix."""
    return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()


def mixup_batch(generator, smoothing=0.1, lam=0.7):
    """A batch as its loader gives it with --mixup: mixed images, smoothed mixed targets."""
    images = torch.randn(8, 3, 32, 32, generator=generator)
    labels = torch.randint(NUM_CLASSES, (8, ), generator=generator)
    one_hot = F.one_hot(labels, NUM_CLASSES) * (1 - smoothing) + smoothing / NUM_CLASSES
    return (lam * images + (1 - lam) * images.flip(0),
            lam * one_hot + (1 - lam) * one_hot.flip(0))


def by_hand(student, mentors, target, criterion, beta, t0):
    """The ClassroomKD loss of one batch, written out from the paper's equations."""
    logits = [student.float()] + [m.float() for m in mentors]
    # w_c: geometric batch mean of sum_k y_k p_c(k), the soft-label probability of the target
    log_scores = [torch.logsumexp(F.log_softmax(z, -1) + target.log(), -1) for z in logits]
    w = torch.stack([score.mean().exp() for score in log_scores])
    r = len(mentors) * w / w.sum()
    loss, ranks, temperatures = w[0] * criterion(student, target), {}, {}
    for k, z in enumerate(logits[1:], start=1):
        t = 1 + t0 * (r[k] - r[0]).abs() / torch.maximum(r[k], r[0])
        kl = (F.softmax(z / t, -1) * (F.log_softmax(z / t, -1) - F.log_softmax(logits[0] / t, -1)))
        if r[k] >= r[0]:
            loss = loss + beta * r[k] * t**2 * kl.sum(-1).mean()
        ranks[k], temperatures[k] = r[k], t
    return loss, r[0], ranks, temperatures


def test_train_epoch_as_in_image_classification_sota(checkpoints, process_group):
    args = parse(f'--model {STUDENT} --mixup 0.2 --kd classroom '
                 f'--teacher-model {TEACHER} --teacher-ckpt {checkpoints[TEACHER]} '
                 f'--peer-models {PEER} --peer-ckpts {checkpoints[PEER]} '
                 '--kd-loss-weight 2 --kd-loss-kwargs base_temperature=8 '
                 '--classroom-sync-ranking')
    zoo = Zoo()
    # its main(): criterion, student, KD loss, DDP with the fp16 hook, loss_fn.student = model
    criterion = soft_cross_entropy
    model = zoo(args, args.model)
    loss_fn = build_classroom_loss(args, model, zoo, criterion)
    model = DDP(model)
    model.register_comm_hook(None, comm_hooks.fp16_compress_hook)
    loss_fn.student = model
    optimizer = torch.optim.SGD(model.module.parameters(), lr=0.05, momentum=0.9)

    # the arguments arrived where they belong
    settings = loss_fn.loss.settings
    assert (settings.distill_weight, settings.base_temperature) == (2.0, 8.0)
    assert loss_fn.loss.sync_ranking is True and settings.strategy == 'classroom'
    assert loss_fn.names == [TEACHER, PEER] and loss_fn.ori_loss is criterion
    assert zoo.pretrained == {STUDENT: False, TEACHER: False, PEER: False}
    mentor_params = {id(p) for mentor in loss_fn.mentors for p in mentor.parameters()}
    assert not mentor_params & {id(p) for group in optimizer.param_groups
                                for p in group['params']}
    student_before = copy.deepcopy(model.module.state_dict())

    # its train_epoch()
    generator = torch.Generator().manual_seed(1)
    model.train()
    for step in range(3):
        images, target = mixup_batch(generator)
        for p in model.parameters():
            p.grad = None
        with torch.autocast('cpu', dtype=torch.bfloat16):
            loss = loss_fn(images, target)
            if step == 0:
                with torch.no_grad():  # the same forward passes, for the hand computation
                    student = model.module(images)
                    mentors = [mentor(images) for mentor in loss_fn.mentors]
                    expected, r_s, ranks, temperatures = by_hand(student, mentors, target,
                                                                 criterion, 2.0, 8.0)
        loss.backward()
        optimizer.step()
        assert torch.isfinite(loss)
        if step == 0:
            assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
            assert loss_fn.stats['r_s'].item() == pytest.approx(r_s.item(), rel=1e-5)
            for k, name in enumerate(loss_fn.names, start=1):
                stats = loss_fn.stats[f'r_{name}'], loss_fn.stats[f't_{name}']
                assert torch.stack(stats).tolist() == pytest.approx(
                    [ranks[k].item(), temperatures[k].item()], rel=1e-5)

    student_after = model.module.state_dict()
    assert any(not torch.equal(value, student_after[key]) for key, value in student_before.items())
    for name, mentor in zip(loss_fn.names, loss_fn.mentors):
        assert not mentor.training
        assert all(not p.requires_grad and p.grad is None for p in mentor.parameters())
        saved = torch.load(checkpoints[name])['model']
        for key, value in mentor.state_dict().items():  # weights and BN statistics
            assert torch.equal(value, saved[key]), (name, key)


def test_classroom_options_from_flags_and_kwargs(checkpoints):
    args = parse(f'--model {STUDENT} --smoothing 0 --kd classroom --teacher-model {TEACHER} '
                 f'--teacher-ckpt {checkpoints[TEACHER]} --kd-loss-weight 0.5 '
                 '--classroom-strategy aver --no-classroom-mentoring '
                 '--kd-loss-kwargs knowledge_filtering=false drop_rate=0.25 '
                 'granularity=sample ranking=uniform')
    zoo = Zoo()
    criterion = torch.nn.CrossEntropyLoss()
    loss_fn = build_classroom_loss(args, zoo(args, args.model), zoo, criterion)
    settings = loss_fn.loss.settings
    assert (settings.strategy, settings.mentoring, settings.knowledge_filtering) == \
        ('aver', False, False)
    assert (settings.distill_weight, settings.drop_rate) == (0.5, 0.25)
    assert (settings.granularity, settings.ranking) == ('sample', 'uniform')
    # per-sample task terms: cross-entropy on the targets, which its plain criterion is
    assert loss_fn.ori_loss is None
    assert loss_fn.loss.sync_ranking is False  # the default


def test_mentor_without_checkpoint_takes_pretrained_weights_only_where_it_can(checkpoints):
    zoo = Zoo()
    args = parse(f'--model {STUDENT} --kd classroom --teacher-model {TEACHER} '
                 f'--teacher-ckpt {checkpoints[TEACHER]} --peer-models {PEER}')
    build_classroom_loss(args, zoo(args, args.model), zoo, torch.nn.CrossEntropyLoss())
    assert zoo.pretrained[TEACHER] is False and zoo.pretrained[PEER] is True
    args = parse(f'--model {STUDENT} --kd classroom --teacher-model {TEACHER} '
                 f'--peer-models {PEER} --teacher-no-pretrained')
    with pytest.raises(ValueError, match=f"mentor '{TEACHER}' has no checkpoint: give one with "
                                         '--teacher-ckpt'):
        build_classroom_loss(args, zoo(args, args.model), zoo, torch.nn.CrossEntropyLoss())
    args = parse(f'--model {STUDENT} --kd classroom --teacher-model cifar_resnet110')
    with pytest.raises(ValueError, match="mentor 'cifar_resnet110' has no checkpoint"):
        build_classroom_loss(args, zoo(args, args.model), zoo, torch.nn.CrossEntropyLoss())


BAD_COMMANDS = {
    '--ori-loss-weight 0.5': r'--ori-loss-weight 0.5: ClassroomKD weighs the task loss',
    '--kd-loss-kwargs tau=4 beta=2': r'--kd-loss-kwargs: beta, tau are not ClassroomKDLoss',
    '--kd-loss-kwargs distill_weight=2': r'as --kd-loss-weight',
    '--kd-loss-kwargs base_temperature=hot': r'base_temperature=hot: expected a number',
    '--kd-loss-kwargs mentoring=maybe': r'mentoring=maybe: expected true or false',
    '--kd-loss-kwargs strategy=best': r"strategy='best' is not one of",
    '--classroom-base-temperature 4 --kd-loss-kwargs base_temperature=8':
    r'base_temperature is given twice',
    '--classroom-granularity sample': r'granularity sample: its label-smoothing criterion',
    '--auxiliary': r'--auxiliary: its train loop would call the classroom loss',
    f'--peer-models {PEER} {TEACHER}': r'timm_resnet10t given twice',
    '--peer-models s': r"mentor 's': the name is reserved: its rank would be logged as r_s",
    f'--peer-models {PEER} timm_lcnet_075 --peer-ckpts {{peer}}':
    r'--peer-ckpts gives 1 checkpoints for 2 --peer-models',
    f'--peer-models {PEER} --peer-ckpts missing.pth':
    f"mentor '{PEER}': checkpoint 'missing.pth' does not exist",
    f'--peer-models {PEER} --peer-ckpts {{teacher}}':
    f"mentor '{PEER}': checkpoint '.*' does not fit",
    f'--peer-models {PEER} --peer-ckpts {{peer_100}}':
    f"mentor '{PEER}': checkpoint '.*' does not fit",
}


@pytest.mark.parametrize('extra', BAD_COMMANDS, ids=str)
def test_bad_input_is_one_clear_error_before_training(extra, checkpoints):
    paths = dict(teacher=checkpoints[TEACHER], peer=checkpoints[PEER],
                 peer_100=checkpoints['peer_100'])
    args = parse(f'--model {STUDENT} --kd classroom --teacher-model {TEACHER} '
                 f'--teacher-ckpt {checkpoints[TEACHER]} ' + extra.format(**paths))
    zoo = Zoo()
    with pytest.raises((ValueError, FileNotFoundError), match=BAD_COMMANDS[extra]):
        build_classroom_loss(args, zoo(args, args.model), zoo, torch.nn.CrossEntropyLoss())


def test_a_mentor_with_other_classes_is_refused(checkpoints):
    """A mentor whose checkpoint fits its own architecture but not the student's classes."""

    def zoo(args, model_name, pretrained=False, pretrained_ckpt=''):
        num_classes = 100 if model_name == PEER else args.num_classes
        return timm.create_model(model_name[len('timm_'):], num_classes=num_classes)

    args = parse(f'--model {STUDENT} --kd classroom --teacher-model {TEACHER} '
                 f'--teacher-ckpt {checkpoints[TEACHER]} --peer-models {PEER} '
                 f"--peer-ckpts {checkpoints['peer_100']}")
    with pytest.raises(ValueError, match=f"mentor '{PEER}' gives \\(1, 100\\) on one input, "
                                         'not the 10 class logits'):
        build_classroom_loss(args, zoo(args, args.model), zoo, torch.nn.CrossEntropyLoss())
