"""Pose classrooms on real MMPose models: the adapters against MMPose's codecs, heads and
losses, the distiller's checks, flip test, and training plus evaluation on the real COCO and
MPII samples beside the repository."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.structures import InstanceData, PixelData
from mmengine.visualization import Visualizer

import classroomkd_plugin  # noqa: F401
from classroomkd_plugin.core.pose import HeatmapRep, PoseTargets, SimCCRep
from classroomkd_plugin.models import ClassroomError
from classroomkd_plugin.models.adapters.pose import (UNIFORM_SIGMA, HeatmapAdapter,
                                                     SimCCAdapter, pose_adapter)
from classroomkd_plugin.models.distillers.classroom_distiller import build_model
from pose_data import (LITEHRNET_18_MPII, POSE_CONFIGS, RTMPOSE_T, data_options, real_coco,
                       real_mpii, save_random_checkpoint, scoped, write_coco, write_mpii)

LITEHRNET_18_COCO = 'topdown_heatmap/coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'
RTMPOSE_M_MPII = 'rtmpose/mpii/rtmpose-m_8xb64-210e_mpii-256x256.py'
COCO_SIGMAS = [0.0716] * 17


@pytest.fixture(autouse=True)
def mmpose_scope():
    with DefaultScope.overwrite_default_scope('mmpose'):
        yield


def stock_model_cfg(config: str) -> Config:
    cfg = get_config(scoped(config))
    model = cfg.model
    if model.backbone.get('init_cfg'):
        model.backbone.init_cfg = None  # the pretrained backbone is a download
    return model


def tiny_rtmpose_mpii() -> dict:
    """RTMPose for MPII 256x256 at RTMPose-t's depth and width."""
    model = stock_model_cfg(RTMPOSE_M_MPII)
    model.backbone.update(deepen_factor=0.167, widen_factor=0.375)
    model.head.in_channels = 384
    return dict(model, _scope_='mmpose')


def build(config) -> torch.nn.Module:
    return build_model(stock_model_cfg(config) if isinstance(config, str) else config,
                       'mmpose')


def stock_batch(config: str, data: dict, count: int, pack_transformed: bool = False):
    """``count`` samples of ``data`` through ``config``'s stock training pipeline."""
    from mmpose.registry import DATASETS
    cfg = get_config(scoped(config))
    pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    pipeline[-1]['pack_transformed'] = pack_transformed
    dataset_cfg = dict(cfg.train_dataloader.dataset, data_root=data['data_root'],
                       ann_file=data['ann_file'], data_prefix=dict(img=data['img_prefix']),
                       pipeline=pipeline)
    dataset = DATASETS.build(dataset_cfg)
    return pseudo_collate([dataset[i] for i in range(min(count, len(dataset)))])


def preprocess(model, batch):
    data = model.data_preprocessor(batch, True)
    return data['inputs'], data['data_samples']


def test_the_head_chooses_the_adapter_and_its_signature():
    simcc = pose_adapter(build(RTMPOSE_T))
    assert isinstance(simcc, SimCCAdapter) and isinstance(simcc.rep, SimCCRep)
    assert simcc.rep.beta == 10.0  # RTMPose's KLDiscretLoss
    assert simcc.rep.sigma == (4.9, 5.66)  # RTMPose-t's SimCCLabel, in bins
    signature = simcc.signature()
    assert (signature['number of keypoints'], signature['input size']) == (17, (192, 256))
    heatmap = pose_adapter(build(LITEHRNET_18_MPII))
    assert isinstance(heatmap, HeatmapAdapter) and heatmap.rep.kd_loss == 'kl'
    assert heatmap.rep.sigma == 2.0  # MSRAHeatmap's, in cells
    signature = heatmap.signature()
    assert (signature['number of keypoints'], signature['input size']) == (16, (256, 256))


@pytest.mark.parametrize('codec, tolerance', [
    (dict(type='SimCCLabel', input_size=(192, 256), sigma=(4.9, 5.66), simcc_split_ratio=2.0,
          normalize=False), 0.25 * 2**0.5 + 1e-3),
    (dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2,
          unbiased=True), 0.05),
    (dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2),
     2 * 2**0.5 + 1e-3),
], ids=['simcc', 'heatmap-unbiased', 'heatmap'])
def test_targets_decode_to_the_keypoints_the_codec_encoded(codec, tolerance):
    """The codec rounds keypoints to its grid (SimCC: half pixels, heatmaps: 4 pixels unless
    unbiased); decoding its targets loses nothing more."""
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample
    encoder = KEYPOINT_CODECS.build(codec)
    rng = np.random.default_rng(0)
    keypoints = rng.uniform([20, 20], [172, 236], (3, 17, 2)).astype(np.float32)
    samples = []
    for person in keypoints:
        encoded = encoder.encode(person[None], np.ones((1, 17), dtype=np.float32))
        sample = PoseDataSample(gt_instances=InstanceData(keypoints=person[None]))
        labels = {key: torch.as_tensor(value) for key, value in encoded.items()
                  if key != 'heatmaps'}
        sample.gt_instance_labels = InstanceData(**labels)
        if 'heatmaps' in encoded:
            sample.gt_fields = PixelData(heatmaps=torch.as_tensor(encoded['heatmaps']))
        samples.append(sample)
    head = 'RTMCCHead' if codec['type'] == 'SimCCLabel' else 'HeatmapHead'
    model_cfg = stock_model_cfg(RTMPOSE_T if head == 'RTMCCHead' else LITEHRNET_18_COCO)
    model_cfg.head.decoder = codec
    adapter = pose_adapter(build(model_cfg), sigmas=COCO_SIGMAS)
    targets = adapter.targets(samples)
    error = (targets.keypoints - torch.as_tensor(keypoints)).norm(dim=-1)
    assert error.max().item() <= tolerance
    # packed input-space keypoints are taken as they are
    for sample, person in zip(samples, keypoints):
        sample.gt_instances.transformed_keypoints = person[None]
    assert torch.equal(adapter.targets(samples).keypoints, torch.as_tensor(keypoints))


@pytest.mark.parametrize('dataset', ['coco', 'mpii'])
def test_real_samples_decode_to_the_transformed_keypoints(dataset, tmp_path):
    """The stock pipelines on the real images: the keypoints decoded from the student's
    encoded targets are the keypoints TopdownAffine put in the input (up to the codec's
    grid), away from the input's border where targets are clipped."""
    config, data, bound = ((RTMPOSE_T, real_coco(), 0.25 * 2**0.5 + 1e-3) if dataset == 'coco'
                           else (LITEHRNET_18_MPII, real_mpii(tmp_path), 2 * 2**0.5 + 1e-3))
    batch = stock_batch(config, data, 16, pack_transformed=True)
    adapter = pose_adapter(build(config), sigmas=[0.07] * (17 if dataset == 'coco' else 16))
    samples = batch['data_samples']
    packed = adapter.targets(samples)
    decoded = adapter.decode(adapter.encoded_targets(samples))
    width, height = adapter.input_size
    inside = ((packed.keypoints > 24) & (packed.keypoints < torch.tensor([width - 24,
                                                                           height - 24]))).all(-1)
    checked = inside & (packed.weights > 0)
    assert checked.sum() > 20
    error = (decoded - packed.keypoints).norm(dim=-1)[checked]
    assert error.max().item() <= bound


def test_packed_keypoints_reach_the_device_without_a_blocking_copy(tmp_path, monkeypatch):
    """``pack_transformed=True`` packs the keypoints as host arrays: they go to the device
    with ``non_blocking=True`` (from pinned memory on an accelerator), so the training step does
    not wait for the device there."""
    samples = stock_batch(RTMPOSE_T, write_coco(tmp_path / 'data'), 2,
                          pack_transformed=True)['data_samples']
    adapter = pose_adapter(build(RTMPOSE_T), sigmas=COCO_SIGMAS)
    copies, to = [], torch.Tensor.to

    def spy(tensor, *args, **kwargs):
        if any(isinstance(a, (torch.device, str)) for a in (*args, kwargs.get('device'))):
            copies.append(kwargs.get('non_blocking', len(args) > 2 and args[2]))
        return to(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, 'to', spy)
    targets = adapter.targets(samples)
    monkeypatch.undo()
    assert copies == [True]
    expected = np.concatenate([s.gt_instances.transformed_keypoints for s in samples])
    assert targets.keypoints.dtype == torch.float32
    assert torch.equal(targets.keypoints, torch.as_tensor(expected, dtype=torch.float32))


@pytest.mark.parametrize('config, writer', [(RTMPOSE_T, write_coco),
                                            (LITEHRNET_18_MPII, write_mpii)],
                         ids=['rtmpose-t', 'litehrnet-18'])
def test_task_loss_is_the_stock_head_loss_and_linear_in_sample_weights(config, writer,
                                                                       tmp_path):
    model = build(config)
    batch = stock_batch(config, writer(tmp_path / 'data'), 2)
    inputs, samples = preprocess(model, batch)
    adapter = pose_adapter(model)
    out = adapter.outputs(inputs)
    stock = model.head.loss(model.extract_feat(inputs), samples)['loss_kpt']
    loss = adapter.task_loss(out, samples)
    assert torch.allclose(loss, stock)
    n = len(samples)
    assert torch.allclose(adapter.task_loss(out, samples, torch.full((n, ), 2.0)), 2 * loss)
    first = torch.zeros(n)
    first[0] = 1
    assert torch.allclose(
        adapter.task_loss(out, samples, first) + adapter.task_loss(out, samples, 1 - first),
        loss)


def test_kd_terms_have_the_scale_of_the_head_losses():
    """At t = 1 the SimCC KD term is KLDiscretLoss towards the mentor's distribution and the
    heatmap MSE term is KeypointMSELoss towards the mentor's heatmap."""
    from mmpose.models.losses import KeypointMSELoss, KLDiscretLoss
    generator = torch.Generator().manual_seed(0)
    weights = (torch.rand(3, 17, generator=generator) > 0.3).float()
    targets = PoseTargets(torch.zeros(3, 17, 2), weights, torch.full((17, ), 0.07), (192, 256))
    one = torch.ones(3)
    student = tuple(torch.randn(3, 17, n, generator=generator) for n in (384, 512))
    mentor = tuple(torch.randn(3, 17, n, generator=generator) for n in (384, 512))
    head_loss = KLDiscretLoss(beta=10.0, label_softmax=False, use_target_weight=True)
    labels = tuple(torch.softmax(10.0 * m, -1) for m in mentor)
    kd = SimCCRep(beta=10.0).kd(student, mentor, one, one, targets)
    assert torch.allclose(kd.mean(), head_loss(student, labels, weights), rtol=1e-4)
    heatmaps = torch.rand(3, 17, 64, 48, generator=generator)
    mentor_heatmaps = torch.rand(3, 17, 64, 48, generator=generator)
    kd = HeatmapRep('mse').kd(heatmaps, mentor_heatmaps, one, one, targets)
    mse = KeypointMSELoss(use_target_weight=True)(heatmaps, mentor_heatmaps, weights)
    assert torch.allclose(kd.mean(), mse, rtol=1e-5)


@pytest.fixture(scope='module')
def mentor_checkpoints(tmp_path_factory):
    """Random-init checkpoints of small mentors, by name: (config, checkpoint)."""
    root = tmp_path_factory.mktemp('pose_mentors')
    input_384 = stock_model_cfg(RTMPOSE_T)  # RTMPose-t at 384x288
    input_384.head.update(input_size=(288, 384), in_featuremap_size=(9, 12))
    input_384.head.decoder.input_size = (288, 384)
    udp = stock_model_cfg(LITEHRNET_18_COCO)
    udp.head.decoder = dict(type='UDPHeatmap', input_size=(192, 256), heatmap_size=(48, 64),
                            sigma=2)
    configs = {
        'rtmpose-t': scoped(RTMPOSE_T),
        'litehrnet-18': scoped(LITEHRNET_18_COCO),
        'litehrnet-18-mpii': scoped(LITEHRNET_18_MPII),
        'rtmpose-t-384x288': dict(input_384, _scope_='mmpose'),
        'litehrnet-18-udp': dict(udp, _scope_='mmpose'),
        'tiny-rtmpose-mpii': tiny_rtmpose_mpii(),
    }
    return {name: (config, save_random_checkpoint(config, root / f'{name}.pth'))
            for name, config in configs.items()}


def classroom(student, mentor_checkpoints, names, **loss):
    mentors = [dict(name=n, config=mentor_checkpoints[n][0], checkpoint=mentor_checkpoints[n][1])
               for n in names]
    return build_model(dict(type='ClassroomDistiller', student=stock_model_cfg(student),
                            mentors=mentors,
                            keypoint_sigmas=COCO_SIGMAS if student == RTMPOSE_T else [0.07] * 16,
                            distill_loss=dict(type='ClassroomKDLoss', **loss)), 'mmpose')


@pytest.mark.parametrize('mentor, message', [
    ('litehrnet-18-mpii', "mentor 'litehrnet-18-mpii': its number of keypoints is 16, the "
     "student's is 17"),
    ('rtmpose-t-384x288', r"mentor 'rtmpose-t-384x288': its input size is \(288, 384\), the "
     r"student's is \(192, 256\)"),
    ('litehrnet-18-udp', "mentor 'litehrnet-18-udp': HeatmapHead with codec UDPHeatmap is "
     'not supported'),
])
def test_a_mentor_that_does_not_fit_is_named_before_its_checkpoint_is_fetched(
        mentor, message, mentor_checkpoints):
    """Nothing listens at the checkpoint URLs: fetching one before the check would fail
    with another error. Building the classroom (what evaluation does) checks nothing."""
    unreachable = {name: (config, f'http://127.0.0.1:9/{name}.pth')
                   for name, (config, _) in mentor_checkpoints.items()}
    model = classroom(RTMPOSE_T, unreachable, ['rtmpose-t', mentor])
    with pytest.raises(ClassroomError, match=message):
        model.train()


def test_keypoint_names_of_the_training_sets_must_match(mentor_checkpoints, tmp_path):
    """A mentor trained on PoseTrack18 (17 keypoints at 256x192, like COCO, but named and
    ordered otherwise) is refused for a student trained on COCO."""
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    posetrack = tmp_path / 'rtmpose-t_posetrack18.py'
    posetrack.write_text(f"""_base_ = ['{scoped(RTMPOSE_T)}']
train_dataloader = dict(dataset=dict(metainfo=dict(
    from_file='configs/_base_/datasets/posetrack18.py')))
""")
    mentors = {'posetrack': (str(posetrack), 'http://127.0.0.1:9/posetrack.pth'),
               'coco': (scoped(RTMPOSE_T), mentor_checkpoints['rtmpose-t'][1])}
    visualizer = Visualizer.get_instance('keypoint_names_test')
    visualizer.dataset_meta = parse_pose_metainfo(
        dict(from_file='configs/_base_/datasets/coco.py'))
    try:
        classroom(RTMPOSE_T, mentors, ['coco']).train()  # the same names
        with pytest.raises(ClassroomError, match="mentor 'posetrack': its keypoint names "
                           "differ from the student's: #1 is 'head_bottom', not 'left_eye'"):
            classroom(RTMPOSE_T, mentors, ['coco', 'posetrack']).train()
    finally:
        visualizer.dataset_meta = {}


def test_a_mentor_of_another_task_is_named_before_training(mentor_checkpoints, digits_mentors):
    """A classifier cannot teach a pose student, nor a pose estimator a classifier: refused
    when training starts, before any checkpoint is fetched (nothing listens at the URLs)."""
    config, _ = mentor_checkpoints['rtmpose-t']
    rtmpose = dict(name='rtmpose-t', config=config, checkpoint='http://127.0.0.1:9/rtmpose.pth')
    resnet14 = dict(digits_mentors[1], checkpoint='http://127.0.0.1:9/resnet14.pth')
    model = build_model(dict(type='ClassroomDistiller', mentors=[digits_mentors[0], rtmpose],
                             student='configs/cls/digits/resnet8_digits.py'), None)
    with pytest.raises(ClassroomError, match="mentor 'rtmpose-t': its simcc outputs cannot be "
                       "converted into the student's cls outputs"):
        model.train()
    model = build_model(dict(type='ClassroomDistiller', student=stock_model_cfg(RTMPOSE_T),
                             mentors=[rtmpose, resnet14]), 'mmpose')
    with pytest.raises(ClassroomError, match="mentor 'resnet14': its cls outputs cannot be "
                       "converted into the student's simcc outputs"):
        model.train()


def keypoint_mse_to_the_mentor(model, inputs, samples) -> torch.Tensor:
    """A heatmap mentor of the student's heatmap size teaches a heatmap student (MSE, weight 1)
    with MMPose's KeypointMSELoss towards its heatmaps."""
    from mmpose.models.losses import KeypointMSELoss
    with torch.no_grad():
        student = model.student_task.outputs(inputs)  # train mode, as in the loss
        mentor = model.mentors[0].outputs(inputs)
    weights = torch.cat([s.gt_instance_labels.keypoint_weights for s in samples])
    return KeypointMSELoss(use_target_weight=True)(student, mentor, weights)


@pytest.mark.parametrize('student, mentors, writer, reference', [
    (RTMPOSE_T, ['rtmpose-t'], write_coco, None),
    (RTMPOSE_T, ['litehrnet-18'], write_coco, None),
    (LITEHRNET_18_MPII, ['tiny-rtmpose-mpii'], write_mpii, None),
    (LITEHRNET_18_MPII, ['litehrnet-18-mpii'], write_mpii, keypoint_mse_to_the_mentor),
], ids=['simcc<-simcc', 'simcc<-heatmap', 'heatmap<-simcc', 'heatmap<-heatmap'])
def test_loss_of_every_representation_pair(student, mentors, writer, reference,
                                           mentor_checkpoints, tmp_path):
    """Every mentor teaches (no Knowledge Filtering) and the KD term reaches the student
    (heatmap<-heatmap with heatmap_kd='mse': as MMPose's own KeypointMSELoss computes it);
    without mentors (strategy 'nokd') the loss is the stock head's."""
    options = dict(heatmap_kd='mse') if reference is not None else {}
    model = classroom(student, mentor_checkpoints, mentors, knowledge_filtering=False,
                      **options)
    inputs, samples = preprocess(model, stock_batch(student, writer(tmp_path / 'data'), 2))
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'loss_task', 'loss_kd'}
    assert losses['loss_kd'] > 0 and torch.isfinite(losses['loss_kd'])
    if reference is not None:
        assert torch.allclose(losses['loss_kd'], reference(model, inputs, samples), rtol=1e-5)
    losses['loss_kd'].backward()
    grads = [p.grad for p in model.student.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for m in model.mentors for p in m.model.parameters())
    stats = model.pop_stats()
    assert stats[f'active_{mentors[0]}'] == 1.0 and stats[f't_{mentors[0]}'] >= 1.0

    alone = classroom(student, mentor_checkpoints, mentors, strategy='nokd')
    alone.student.load_state_dict(model.student.state_dict())
    losses = alone(inputs, samples, mode='loss')
    stock = alone.student.loss(inputs, samples)['loss_kpt']
    assert torch.allclose(losses['loss_task'], stock) and losses['loss_kd'] == 0


def test_sigmas_come_from_the_training_set_metainfo(mentor_checkpoints, tmp_path):
    model = build(RTMPOSE_T)
    inputs, samples = preprocess(model, stock_batch(RTMPOSE_T, write_coco(tmp_path / 'd'), 2))
    visualizer = Visualizer.get_instance('pose_sigmas_test')
    visualizer.dataset_meta = dict(sigmas=np.linspace(0.03, 0.1, 17, dtype=np.float32))
    try:
        targets = pose_adapter(model).targets(samples)
        assert torch.allclose(targets.sigmas, torch.linspace(0.03, 0.1, 17))
        visualizer.dataset_meta = {}
        targets = pose_adapter(model).targets(samples)
        assert torch.allclose(targets.sigmas, torch.full((17, ), UNIFORM_SIGMA))
        with pytest.raises(ValueError, match='16 keypoint sigmas for 17 keypoints'):
            pose_adapter(model, sigmas=[0.07] * 16).targets(samples)
    finally:
        visualizer.dataset_meta = {}


def test_flip_test_runs_through_the_distiller(mentor_checkpoints, tmp_path):
    model = classroom(RTMPOSE_T, mentor_checkpoints, ['litehrnet-18']).eval()
    batch = stock_batch(RTMPOSE_T, write_coco(tmp_path / 'data'), 2)
    data = model.data_preprocessor(batch, False)
    assert model.student.test_cfg['flip_test']
    with torch.no_grad():
        flipped = model(**copy.deepcopy(data), mode='predict')
        stock = model.student.predict(**copy.deepcopy(data))
        model.student.test_cfg['flip_test'] = False
        plain = model(**copy.deepcopy(data), mode='predict')
    for a, b, c in zip(flipped, stock, plain):
        assert np.allclose(a.pred_instances.keypoints, b.pred_instances.keypoints)
        assert not np.allclose(a.pred_instances.keypoint_scores,
                               c.pred_instances.keypoint_scores)


@pytest.mark.parametrize('dataset', ['coco', 'mpii'])
def test_real_samples_train_and_evaluate_through_the_distiller(dataset, mentor_checkpoints,
                                                               tmp_path):
    """A SimCC student with a heatmap mentor on the real COCO images, a heatmap student with
    a SimCC mentor on the real MPII images: the real Runner trains an epoch, logs the
    classroom and evaluates the student with the stock metric and flip test."""
    if dataset == 'coco':
        data, name, mentor = real_coco(), 'classroom_rtmpose-t_hrnet_coco-256x192.py', \
            'litehrnet-18'
    else:
        data, name, mentor = real_mpii(tmp_path), 'classroom_litehrnet-18_mpii-256x256.py', \
            'tiny-rtmpose-mpii'
    cfg = Config.fromfile(POSE_CONFIGS / name)
    config, checkpoint = mentor_checkpoints[mentor]
    cfg.model.mentors = [dict(name=mentor, config=config, checkpoint=checkpoint)]
    if cfg.model.student.backbone.get('init_cfg'):
        cfg.model.student.backbone.init_cfg = None
    cfg.merge_from_dict(data_options(data, splits=('train', 'val')))
    cfg.train_dataloader.batch_size = 3 if dataset == 'mpii' else 6  # two iterations
    cfg.val_dataloader.batch_size = 12
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=1)
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    cfg.visualizer.name = f'visualizer_real_{dataset}'
    assert cfg.model.student.test_cfg.flip_test

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter >= 2
    assert f'train/classroom/t_{mentor}' in runner.message_hub.log_scalars
    metrics = runner.val()
    key = 'coco/AP' if dataset == 'coco' else 'PCK'
    assert key in metrics and np.isfinite(metrics[key])
    assert Path(cfg.work_dir).is_dir()
