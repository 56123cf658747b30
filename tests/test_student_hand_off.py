"""The trained student on its own: ``tools/extract_student.py`` writes the student's checkpoint
and its stand-alone config, which MMPose's and MMPretrain's own tools and inference APIs run
with no classroom code (in processes that do not import the plugin, where the student needs
none of its types); and MMPose's ``init_model`` takes a classroom config and checkpoint.

The classrooms are the shipped configs with random weights (the distiller is built, its
mentors are not: they are built only when training starts).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import mmpretrain
import numpy as np
import pytest
import torch
from mmengine.config import Config

import classroomkd_plugin  # noqa: F401  MMPose's init_model takes classroom configs
from classroomkd_plugin.models.distillers.classroom_distiller import (build_model,
                                                                     load_model_config)
from classroomkd_plugin.student import plugin_types
from conftest import REPO, load_tool
from pose_data import STOCK_TOOLS as MMPOSE_TOOLS
from pose_data import data_options, write_coco

POSE_CLASSROOM = REPO / 'configs/pose/classroom_rtmpose-t_coco-256x192.py'
BOX = [10, 8, 70, 108]
MMPRETRAIN_TOOLS = Path(mmpretrain.__file__).parent / '.mim' / 'tools'
CLASSROOM_ONLY = ('ClassroomDistiller', 'ClassroomKDLoss', 'ClassroomHook', 'MentorCheckHook',
                  'MentorCacheHook', 'DeterministicViews', 'ViewSampler', 'mentors')

extract_tool = load_tool('extract_student')


def result_of(output: str):
    """What a prediction script printed after its RESULT mark."""
    return json.loads(output.rsplit('RESULT ', 1)[1])


def run_python(*args) -> str:
    """A Python process from the repository root; its stdout, or a failure with its tail."""
    env = dict(os.environ, PYTHONWARNINGS='ignore', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def classroom_checkpoint(config: Path, scope: str, path: Path) -> Path:
    """A random-init classroom checkpoint as MMEngine's Runner saves it: the distiller's
    weights and the config in its meta."""
    cfg = Config.fromfile(config)
    model = build_model(cfg.model, scope)
    torch.save({'state_dict': model.state_dict(), 'meta': {'cfg': cfg.pretty_text}}, path)
    return path


def image(path: Path, size=(160, 120)) -> Path:
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (*size[::-1], 3),
                                                             dtype=np.uint8))
    return path


def assert_no_classroom_code(config_file: Path, classroom: Config, keeps_plugin: bool):
    text = config_file.read_text()
    for name in CLASSROOM_ONLY:
        assert name not in text, name
    assert ('classroomkd_plugin' in text) is keeps_plugin
    student = Config.fromfile(config_file)
    assert student.model == load_model_config(classroom.model.student)[0]
    # the rest of the classroom config is kept
    for key in ('val_dataloader', 'test_dataloader', 'val_evaluator', 'test_evaluator',
                'default_scope', 'param_scheduler', 'optim_wrapper'):
        assert student.get(key) == classroom.get(key), key
    assert student.custom_hooks == [hook for hook in classroom.custom_hooks
                                    if hook.type not in plugin_types()]
    return student


@pytest.fixture(scope='module')
def pose_pair(tmp_path_factory):
    """The RTMPose-t classroom's checkpoint and what the tool, run as a user runs it, makes
    of it (the classroom config read from the checkpoint)."""
    root = tmp_path_factory.mktemp('pose_hand_off')
    classroom = classroom_checkpoint(POSE_CLASSROOM, 'mmpose', root / 'classroom.pth')
    out = run_python(REPO / 'tools/extract_student.py', classroom, root / 'student.pth')
    assert 'student.py: its config' in out
    return classroom, root / 'student.pth', root / 'student.py', image(root / 'person.jpg')


PREDICT_POSE = """
import json, sys
RESULT = '\\nRESULT'  # after the inferencers' progress bars
from mmpose.apis import inference_topdown, init_model
model = init_model(sys.argv[1], sys.argv[2], device='cpu')
result = inference_topdown(model, sys.argv[3], bboxes=[{box}])[0]
assert 'classroomkd_plugin' not in sys.modules
print(RESULT, json.dumps([type(model).__name__, model.dataset_meta['dataset_name'],
                  result.pred_instances.keypoints.tolist()]))
"""


def test_pose_student_runs_with_mmpose_alone(pose_pair, tmp_path):
    import mmpose.apis
    classroom_ckpt, student_ckpt, student_cfg, person = pose_pair
    classroom = Config.fromfile(POSE_CLASSROOM)
    student = assert_no_classroom_code(student_cfg, classroom, keeps_plugin=False)
    assert student.codec == classroom.codec
    assert student.train_dataloader == classroom.train_dataloader

    name, dataset, keypoints = result_of(run_python(
        '-c', PREDICT_POSE.format(box=BOX), student_cfg, student_ckpt, person))
    assert (name, dataset) == ('TopdownPoseEstimator', 'coco')
    # as the classroom predicts, through MMPose's init_model on the classroom's own pair
    model = mmpose.apis.init_model(str(POSE_CLASSROOM), str(classroom_ckpt), device='cpu')
    expected = mmpose.apis.inference_topdown(model, str(person), bboxes=[BOX])[0]
    assert np.allclose(keypoints, expected.pred_instances.keypoints, atol=1e-4)

    # the stock tools/test.py on the pair
    data = write_coco(tmp_path / 'data')
    options = [f'{k}={v}' for k, v in data_options(data, splits=('test', )).items()]
    log = run_python(MMPOSE_TOOLS / 'test.py', student_cfg, student_ckpt, '--work-dir',
                     tmp_path / 'test', '--cfg-options', *options)
    assert 'Epoch(test) [' in log and 'coco/AP:' in log


def test_mmpose_init_model_takes_a_classroom_config(pose_pair):
    """Stock MMPose reads model.backbone, which a classroom lacks (AttributeError): with the
    plugin imported, init_model builds the student alone and loads its weights."""
    import mmpose.apis
    classroom_ckpt = pose_pair[0]
    weights = torch.load(classroom_ckpt, weights_only=True)['state_dict']
    model = mmpose.apis.init_model(str(POSE_CLASSROOM), str(classroom_ckpt), device='cpu',
                                   cfg_options={'model.student.test_cfg.flip_test': False})
    assert type(model).__name__ == 'TopdownPoseEstimator'
    assert model.cfg.model.test_cfg.flip_test is False  # the options name the classroom's keys
    assert model.dataset_meta['dataset_name'] == 'coco'
    state = model.state_dict()
    assert all(torch.equal(value, weights[f'student.{key}']) for key, value in state.items())
    # a stock config still goes to MMPose's own code
    stock = mmpose.apis.init_model(pose_pair[2], None, device='cpu')
    assert type(stock).__name__ == 'TopdownPoseEstimator'


PREDICT_CLS = """
import json, sys
RESULT = '\\nRESULT'  # after the inferencers' progress bars
from mmpretrain.apis import ImageClassificationInferencer, init_model
model = init_model(sys.argv[1], sys.argv[2], device='cpu')
scores = ImageClassificationInferencer(model)(sys.argv[3])[0]['pred_scores']
print(RESULT, json.dumps([type(model).__name__, 'classroomkd_plugin' in sys.modules,
                         scores.tolist()]))
"""
CLS_CLASSROOMS = {
    # a ResNet-8 student of the plugin (CifarResNet) on its digits dataset: the import stays
    'digits': ('configs/cls/digits/classroom_resnet8_digits.py', 'Digits', True),
    # MMPretrain's ResNet-34 on ImageNet: nothing of the plugin is left
    'in1k': ('configs/cls/classroom_resnet34_regnety320_in1k.py', 'ImageNet', False),
}


@pytest.mark.parametrize('name', CLS_CLASSROOMS)
def test_cls_student_runs_with_mmpretrain_apis(name, tmp_path):
    from mmpretrain.apis import ImageClassificationInferencer, init_model
    config, dataset, keeps_plugin = CLS_CLASSROOMS[name]
    classroom_ckpt = classroom_checkpoint(REPO / config, 'mmpretrain', tmp_path / 'room.pth')
    extract_tool.main([str(classroom_ckpt), str(tmp_path / 'student.pth'), '--config', config])
    classroom = Config.fromfile(config)
    student = assert_no_classroom_code(tmp_path / 'student.py', classroom, keeps_plugin)
    assert student.train_dataloader.dataset.type == dataset  # the classroom's views unwrapped
    assert student.train_dataloader.sampler.type == 'DefaultSampler'

    picture = image(tmp_path / 'picture.png', (32, 32))
    model, plugin, scores = result_of(run_python(
        '-c', PREDICT_CLS, tmp_path / 'student.py', tmp_path / 'student.pth', picture))
    assert (model, plugin) == ('ImageClassifier', keeps_plugin)
    # as the classroom predicts: MMPretrain takes the classroom's own pair
    classroom_model = init_model(config, str(classroom_ckpt), device='cpu')
    expected = ImageClassificationInferencer(classroom_model)(str(picture))[0]['pred_scores']
    assert np.allclose(scores, expected, atol=1e-6)

    if name == 'digits':  # the stock tools/test.py on the pair (the digits ship with sklearn)
        log = run_python(MMPRETRAIN_TOOLS / 'test.py', tmp_path / 'student.py',
                         tmp_path / 'student.pth', '--work-dir', tmp_path / 'test')
        assert 'accuracy/top1:' in log


def test_student_config_needs_a_classroom_and_a_config(tmp_path):
    from classroomkd_plugin.student import student_config
    with pytest.raises(ValueError, match='not a classroom config'):
        student_config(Config.fromfile('configs/cls/digits/resnet8_digits.py'))
    checkpoint = tmp_path / 'room.pth'
    torch.save({'state_dict': {'student.w': torch.ones(1)}}, checkpoint)
    with pytest.raises(SystemExit, match='holds no config .* pass --config'):
        extract_tool.main([str(checkpoint), str(tmp_path / 'student.pth')])
