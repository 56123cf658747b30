"""End to end with MMPose's stock tools: ``tools/train.py`` trains a classroom from a config
that inherits configs/pose, ``tools/extract_student.py`` takes the student out, and the stock
``tools/test.py`` and ``mmpose.apis`` use it with the student's own stock config. The stock
``tools/test.py`` also tests the classroom config itself, with its ``--badcase``,
``--show-dir`` and ``--dump`` options, while no mentor checkpoint can be had.

One classroom per representation pair: SimCC <- SimCC, heatmap <- heatmap, SimCC <- heatmap.
The students are the stock RTMPose-t and LiteHRNet-18; the mentors are small stock models with
random weights saved as local checkpoints; the data are small COCO / MPII sets written here.
"""
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hub import get_config

from classroomkd_plugin.models.distillers.classroom_distiller import build_model
from pose_data import (LITEHRNET_18_MPII, POSE_CONFIGS, REPO, RTMPOSE_T, STOCK_TOOLS,
                       data_options, local_mentors, scoped, stock_config_file, write_coco,
                       write_mpii)

PAIRS = {
    'simcc<-simcc': dict(
        classroom='classroom_rtmpose-t_coco-256x192.py', student=RTMPOSE_T, data='coco',
        mentors={'rtmpose-t': RTMPOSE_T,
                 'rtmpose-s': 'rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py'},
        metric='coco/AP', test_classroom=True),
    'heatmap<-heatmap': dict(
        classroom='classroom_litehrnet-18_mpii-256x256.py', student=LITEHRNET_18_MPII,
        data='mpii', mentors={'litehrnet-18': LITEHRNET_18_MPII}, metric='PCK',
        test_classroom=True),
    'simcc<-heatmap': dict(
        classroom='classroom_rtmpose-t_hrnet_coco-256x192.py', student=RTMPOSE_T, data='coco',
        mentors={'litehrnet-18':
                 'topdown_heatmap/coco/td-hm_litehrnet-18_8xb64-210e_coco-256x192.py'},
        metric='coco/AP', test_classroom=False),  # the same student as simcc<-simcc
}


def run_tool(*args: str) -> str:
    """Run a tool with this Python from the repository root; its output, or a failure with
    the output's tail."""
    # the tool uses as many threads as the tests (conftest.py sets them)
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    result = subprocess.run([sys.executable, *map(str, args)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f'{args[0]} failed:\n{output[-4000:]}'
    return output


def cfg_options(options: dict) -> list:
    return ['--cfg-options', *(f'{key}={value}' for key, value in options.items())]


def write_classroom(path: Path, pair: dict, mentors: list) -> None:
    """A small classroom: the configs/pose file with local mentors and a short schedule."""
    path.write_text(f"""_base_ = [{str(POSE_CONFIGS / pair['classroom'])!r}]
model = dict(student=dict(backbone=dict(init_cfg=None)), mentors={mentors!r})
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=2)
test_dataloader = val_dataloader
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
""")


@pytest.mark.parametrize('name', list(PAIRS))
def test_stock_tools_train_extract_test_and_infer(name, tmp_path):
    from mmpose.apis import inference_topdown, init_model

    pair = PAIRS[name]
    data = (write_coco if pair['data'] == 'coco' else write_mpii)(tmp_path / 'data')
    mentors = local_mentors(
        [dict(name=n, config=scoped(c)) for n, c in pair['mentors'].items()], tmp_path)
    classroom = tmp_path / 'classroom.py'
    write_classroom(classroom, pair, mentors)
    work_dir = tmp_path / 'work'

    log = run_tool(STOCK_TOOLS / 'train.py', classroom, '--work-dir', work_dir,
                   *cfg_options(data_options(data)))
    assert 'loss_kd' in log and 'classroom/r_s' in log
    for mentor in pair['mentors']:
        assert f'classroom/t_{mentor}' in log
    # validation ran the student through the distiller, with the stock flip test
    assert get_config(scoped(pair['student'])).model.test_cfg.flip_test
    assert "Epoch(val) [1][" in log and f"{pair['metric']}:" in log

    student_ckpt = tmp_path / 'student.pth'
    run_tool(REPO / 'tools' / 'extract_student.py', work_dir / 'epoch_1.pth', student_ckpt)
    classroom_state = torch.load(work_dir / 'epoch_1.pth', map_location='cpu',
                                 weights_only=True)['state_dict']
    student_state = torch.load(student_ckpt, map_location='cpu',
                               weights_only=True)['state_dict']
    stock_student = build_model(get_config(scoped(pair['student'])).model, 'mmpose')
    stock_student.load_state_dict(student_state, strict=True)  # the stock architecture
    for key, value in student_state.items():
        assert torch.equal(value, classroom_state[f'student.{key}']), key

    student_config = stock_config_file(pair['student'])
    log = run_tool(STOCK_TOOLS / 'test.py', student_config, student_ckpt, '--work-dir',
                   tmp_path / 'test', *cfg_options(data_options(data, splits=('test', ))))
    assert "Epoch(test) [" in log and f"{pair['metric']}:" in log

    model = init_model(student_config, str(student_ckpt), device='cpu')
    image = next(Path(data['data_root']).glob('*.jpg'))
    results = inference_topdown(model, str(image), bboxes=[[10, 8, 70, 108]])
    keypoints = results[0].pred_instances.keypoints
    num_keypoints = 17 if pair['data'] == 'coco' else 16
    assert keypoints.shape == (1, num_keypoints, 2)
    assert torch.isfinite(torch.as_tensor(keypoints)).all()

    if pair['test_classroom']:
        # no mentor checkpoint can be had: one is absent, the others' server is unreachable
        nowhere = [dict(m, checkpoint=str(tmp_path / 'absent.pth') if i == 0 else
                        f"http://127.0.0.1:9/{m['name']}.pth") for i, m in enumerate(mentors)]
        write_classroom(classroom, pair, nowhere)
        check_classroom_config(classroom, work_dir / 'epoch_1.pth', data, pair['metric'],
                               tmp_path / 'test_classroom')
        # inference through the classroom's model predicts as the extracted student
        assert np.allclose(classroom_inference(classroom, work_dir / 'epoch_1.pth', image),
                           keypoints, atol=1e-4)


def check_classroom_config(classroom: Path, checkpoint: Path, data: dict, metric: str,
                           work_dir: Path) -> None:
    """The stock test.py on the classroom config and checkpoint, with the bad-case analysis,
    the visualisations and the predictions dumped (building a mentor would fail)."""
    dump = work_dir / 'predictions.pkl'
    options = data_options(data, splits=('test', ))
    # --dump turns test_evaluator into a list before --cfg-options apply: into the config
    ann_file = options.pop('test_evaluator.ann_file', None)
    if ann_file is not None:
        with classroom.open('a') as config:
            config.write(f'test_evaluator = dict(ann_file={ann_file!r})\n')
    options['default_hooks.badcase.badcase_thr'] = 0  # every sample is a bad case
    log = run_tool(STOCK_TOOLS / 'test.py', classroom, checkpoint, '--work-dir', work_dir,
                   '--badcase', '--show-dir', 'shown', '--dump', dump, *cfg_options(options))
    assert "Epoch(test) [" in log and f'{metric}:' in log
    assert len(list(work_dir.glob('*/shown/*.jpg'))) > 0
    assert len(list(work_dir.glob('*/**/badcase/results.json'))) == 1
    predictions = pickle.loads(dump.read_bytes())
    assert predictions and all('pred_instances' in p for p in predictions)


def classroom_inference(classroom: Path, checkpoint: Path, image: Path) -> np.ndarray:
    """``inference_topdown`` with the model of the classroom config (MMPose's ``init_model``
    needs a student's config: it reads ``model.backbone``)."""
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint
    from mmpose.apis import inference_topdown
    from mmpose.apis.inference import dataset_meta_from_config
    cfg = Config.fromfile(classroom)
    model = build_model(cfg.model, 'mmpose')
    load_checkpoint(model, str(checkpoint), map_location='cpu')
    model.cfg, model.dataset_meta = cfg, dataset_meta_from_config(cfg, 'train')
    results = inference_topdown(model.eval(), str(image), bboxes=[[10, 8, 70, 108]])
    assert len(model.mentors) == 0
    return results[0].pred_instances.keypoints
