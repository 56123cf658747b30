"""The CIFAR EfficientNet-B0 of the paper's Table 4 and ScoreSnapshotHook, which keeps the
checkpoints of one run at chosen accuracies (that classroom's peers)."""
import json
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.registry import MODELS

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.checkpoint import load_mentor_checkpoint
from classroomkd_plugin.hooks import ScoreSnapshotHook
from classroomkd_plugin.models.backbones import CifarEfficientNet

# EfficientNet-B0 (Tan & Le, ICML 2019) as timm and torchvision publish it: 5,288,548
# parameters with the 1000-class classifier (1280 -> 1000). With 100 classes the classifier
# has 1280 * 100 + 100 parameters instead.
B0_IMAGENET_PARAMS = 5_288_548
B0_CIFAR100_PARAMS = B0_IMAGENET_PARAMS - (1280 * 1000 + 1000) + (1280 * 100 + 100)


@pytest.fixture(scope='module')
def classifier():
    return MODELS.build(Config.fromfile('configs/cls/_base_/models/efficientnet_b0.py').model)


def test_parameter_count(classifier):
    assert B0_CIFAR100_PARAMS == 4_135_648
    assert sum(p.numel() for p in classifier.parameters()) == B0_CIFAR100_PARAMS


def test_stride_one_stem_keeps_every_stage_stride(classifier):
    """32x32 input: the stem keeps 32x32 and the seven stages stride 1, 2, 2, 2, 1, 2, 1 as on
    ImageNet, so the last one runs at 2x2 (a stride-2 stem would end at 1x1)."""
    timm_model = classifier.backbone.model
    sizes = []
    hooks = [stage.register_forward_hook(lambda m, i, out: sizes.append(out.shape[-1]))
             for stage in [timm_model.conv_stem, *timm_model.blocks]]
    classifier.eval()
    with torch.no_grad():
        logits = classifier(torch.randn(2, 3, 32, 32), mode='tensor')
    for hook in hooks:
        hook.remove()
    assert sizes == [32, 32, 16, 8, 4, 4, 2, 2]
    assert logits.shape == (2, 100)


def test_regularisation_and_normalisation_of_the_reference_b0(classifier):
    """B0's reference settings, those of the authors' ``efficientnet_pytorch`` model:
    dropout 0.2, drop connect 0.2, BatchNorm eps 1e-3 and momentum 1 - 0.99."""
    timm_model = classifier.backbone.model
    assert timm_model.drop_rate == 0.2
    drop_paths = [getattr(block.drop_path, 'drop_prob', 0.0)  # 0: timm puts an Identity
                  for stage in timm_model.blocks for block in stage]
    assert drop_paths[0] == 0 and max(drop_paths) == pytest.approx(0.2 * 15 / 16)
    norms = [m for m in classifier.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == pytest.approx(0.01) for m in norms)
    backbone = classifier.backbone.train()
    features = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        (pooled, ) = backbone(features)
        assert not torch.equal(pooled, backbone(features)[0])  # dropout and drop path are on
    assert pooled.shape == (2, CifarEfficientNet.out_channels('efficientnet_b0'))


def test_unknown_arch_is_rejected():
    with pytest.raises(ValueError, match="valid archs: \\['efficientnet_b0'\\]"):
        CifarEfficientNet(arch='efficientnet_b1')


def scores_logged(runner: Runner) -> dict:
    """{epoch: val top-1} from the run's scalars.json."""
    path = Path(runner.log_dir) / 'vis_data' / 'scalars.json'
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return {r['step']: r['accuracy/top1'] for r in records if 'accuracy/top1' in r}


def test_snapshots_are_the_epochs_closest_to_the_targets(tmp_path):
    cfg = Config.fromfile('configs/cls/digits/resnet8_digits.py')
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 3
    cfg.train_cfg.val_interval = 1
    cfg.train_dataloader.dataset.indices = 64  # one iteration per epoch
    cfg.val_dataloader.dataset.indices = 90
    cfg.custom_hooks = [dict(type='ScoreSnapshotHook', targets=[0.0, 40.0, 100.0])]
    runner = Runner.from_cfg(cfg)
    runner.train()

    scores = scores_logged(runner)
    assert sorted(scores) == [1, 2, 3]
    for target in (0.0, 40.0, 100.0):
        closest = min(scores, key=lambda epoch: (abs(scores[epoch] - target), epoch))
        snapshot = torch.load(tmp_path / f'top1_{target:.2f}.pth')
        assert snapshot['meta']['epoch'] == closest, target
        assert snapshot['meta']['score'] == pytest.approx(scores[closest])
        # a mentor config loads it strictly
        model = MODELS.build(cfg.model)
        load_mentor_checkpoint(model, str(tmp_path / f'top1_{target:.2f}.pth'), 'resnet8')

    # A resumed run goes on from the snapshots written, the last epoch's included.
    resumed = ScoreSnapshotHook(targets=[0.0, 40.0, 100.0])
    resumed.before_train(runner)  # runner.iter > 0, as after a resume
    assert resumed.closest == pytest.approx(
        {target: min(abs(s - target) for s in scores.values()) for target in (0, 40, 100)})
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob('top1_*.pth')}
    resumed.after_val_epoch(runner, {'accuracy/top1': -1000.0})  # farther from every target
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob('top1_*.pth')} == before
    resumed.after_val_epoch(runner, {'accuracy/top1': 40.0})
    assert torch.load(tmp_path / 'top1_40.00.pth')['meta']['score'] == 40.0


def test_snapshot_hook_needs_its_metric():
    hook = ScoreSnapshotHook(targets=[50.0])
    with pytest.raises(KeyError, match="no 'accuracy/top1'.*coco/AP"):
        hook.after_val_epoch(None, {'coco/AP': 0.5})
    with pytest.raises(ValueError, match='at least one target'):
        ScoreSnapshotHook(targets=[])
