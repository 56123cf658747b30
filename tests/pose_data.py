"""Pose test data and models: small COCO- and MPII-format sets, the real samples beside the
repository, random-init checkpoints and classroom configs with local mentors."""
import json
from pathlib import Path
from typing import Dict, List, Optional

import cv2
import mmpose
import numpy as np
import pytest
import torch
from scipy.io import savemat

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'
MMPOSE_ROOT = Path(mmpose.__file__).parent / '.mim'
STOCK_CONFIGS = MMPOSE_ROOT / 'configs' / 'body_2d_keypoint'
STOCK_TOOLS = MMPOSE_ROOT / 'tools'
POSE_CONFIGS = REPO / 'configs' / 'pose'

RTMPOSE_T = 'rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py'
LITEHRNET_18_MPII = 'topdown_heatmap/mpii/td-hm_litehrnet-18_8xb64-210e_mpii-256x256.py'

# MPII joints 8 and 9 are the upper neck and the head top; MPII's head box spans them.
MPII_NECK, MPII_HEAD_TOP = 8, 9


def scoped(config: str) -> str:
    return f'mmpose::body_2d_keypoint/{config}'


def stock_config_file(config: str) -> str:
    """The file of a stock MMPose config, for tools that take a file path."""
    return str(STOCK_CONFIGS / config)


def real_sample(name: str) -> Path:
    """``../shared/data/<name>`` beside the repository; skips the test when it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f'the real {name} images are not here: {path} is absent (a clone without '
                    '../shared)')
    return path


def _person_keypoints(rng: np.random.Generator, box, count: int) -> np.ndarray:
    """[count, 2] keypoints inside ``box`` (x, y, w, h), spread over it like a body."""
    x, y, w, h = box
    along = np.linspace(0.1, 0.9, count)
    xs = x + w * (0.5 + 0.35 * np.sin(np.arange(count) * 1.3)) + rng.normal(0, 1, count)
    ys = y + h * along + rng.normal(0, 1, count)
    return np.stack([xs, ys], 1)


def _write_image(path: Path, rng: np.random.Generator, size=(160, 120)) -> None:
    image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    cv2.imwrite(str(path), image)


def write_coco(root: Path, num_images: int = 2, persons_per_image: int = 2,
               unlabelled_person: bool = True, seed: int = 0) -> Dict[str, str]:
    """A COCO-keypoints-format set; with ``unlabelled_person`` the last person has no
    labelled keypoint (as some in COCO), which the dataset leaves out."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(num_images):
        name = f'{i:06d}.jpg'
        _write_image(root / name, rng)
        images.append(dict(id=i + 1, file_name=name, width=160, height=120))
        for p in range(persons_per_image):
            box = [10.0 + 70 * p, 8.0, 60.0, 100.0]
            keypoints = _person_keypoints(rng, box, 17)
            visible = np.full(17, 2)
            if unlabelled_person and i == num_images - 1 and p == persons_per_image - 1:
                visible[:] = 0
            flat = np.concatenate([keypoints, visible[:, None]], 1)
            flat[visible == 0, :2] = 0
            annotations.append(
                dict(id=len(annotations) + 1, image_id=i + 1, category_id=1, iscrowd=0,
                     bbox=box, area=box[2] * box[3] * 0.6, num_keypoints=int((visible > 0).sum()),
                     keypoints=flat.reshape(-1).round(2).tolist(), segmentation=[]))
    names = [f'kpt{k}' for k in range(17)]
    categories = [dict(id=1, name='person', supercategory='person', keypoints=names,
                       skeleton=[[16, 14], [14, 12]])]
    ann_file = root / 'person_keypoints.json'
    ann_file.write_text(json.dumps(dict(images=images, annotations=annotations,
                                        categories=categories)))
    return dict(data_root=str(root), ann_file=ann_file.name, img_prefix='')


def write_mpii_headboxes(ann_file: Path, out: Path) -> str:
    """An ``mpii_gt_val.mat`` for ``ann_file``: each head box spans the upper neck and the
    head top (MPII's own boxes are not in its json)."""
    boxes = []
    for item in json.loads(ann_file.read_text()):
        joints = np.asarray(item['joints'], dtype=np.float64)
        neck, top = joints[MPII_NECK], joints[MPII_HEAD_TOP]
        half = max(np.abs(top - neck).max() / 2, 4.0)
        centre = (neck + top) / 2
        boxes.append([centre - half, centre + half])
    savemat(str(out), {'headboxes_src': np.transpose(np.asarray(boxes), (1, 2, 0))})
    return str(out)


def write_mpii(root: Path, num_images: int = 3, seed: int = 0) -> Dict[str, str]:
    """An MPII-format set (json and head boxes)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    items = []
    for i in range(num_images):
        name = f'{100000000 + i}.jpg'
        _write_image(root / name, rng)
        box = [40.0, 8.0, 70.0, 104.0]
        joints = _person_keypoints(rng, box, 16)
        visible = np.ones(16, dtype=int)
        visible[rng.integers(0, 16)] = 0
        items.append(dict(image=name, joints=joints.round(2).tolist(),
                          joints_vis=visible.tolist(), center=[75.0, 60.0],
                          scale=104.0 / 200))
    ann_file = root / 'mpii.json'
    ann_file.write_text(json.dumps(items))
    return dict(data_root=str(root), ann_file=ann_file.name, img_prefix='',
                headbox_file=write_mpii_headboxes(ann_file, root / 'mpii_gt.mat'))


def real_coco() -> Dict[str, str]:
    root = real_sample('coco_sample')
    return dict(data_root=str(root), ann_file='test_coco.json', img_prefix='')


def real_mpii(tmp_path: Path) -> Dict[str, str]:
    root = real_sample('mpii_sample')
    return dict(data_root=str(root), ann_file='test_mpii.json', img_prefix='',
                headbox_file=write_mpii_headboxes(root / 'test_mpii.json',
                                                  tmp_path / 'mpii_gt.mat'))


def data_options(data: Dict[str, str], splits=('train', 'val', 'test')) -> Dict[str, object]:
    """Config overrides that point the data loaders (and CocoMetric) at ``data``."""
    options = {}
    for split in splits:
        loader = f'{split}_dataloader'
        options.update({
            f'{loader}.dataset.data_root': data['data_root'],
            f'{loader}.dataset.ann_file': data['ann_file'],
            f'{loader}.dataset.data_prefix.img': data['img_prefix'],
            f'{loader}.num_workers': 0,
            f'{loader}.persistent_workers': False,
        })
        if split != 'train' and 'headbox_file' in data:
            options[f'{loader}.dataset.headbox_file'] = data['headbox_file']
        if split != 'train' and 'headbox_file' not in data:
            options[f'{split}_evaluator.ann_file'] = str(Path(data['data_root']) /
                                                          data['ann_file'])
    return options


def save_random_checkpoint(config, path: Path) -> str:
    """A checkpoint of the model of ``config`` (scoped path, file or model dict) with random
    weights."""
    from classroomkd_plugin.models.distillers.classroom_distiller import (build_model,
                                                                         load_model_config)
    cfg, scope = load_model_config(config)
    torch.save({'state_dict': build_model(cfg, scope).state_dict()}, path)
    return str(path)


def local_mentors(mentors: List[dict], root: Path,
                  cache: Optional[Dict[str, str]] = None) -> List[dict]:
    """``mentors`` with each checkpoint replaced by a local random-init one; ``cache`` maps
    a config to a checkpoint already written."""
    cache = {} if cache is None else cache
    local = []
    for mentor in mentors:
        key = str(mentor['config'])
        if key not in cache:
            cache[key] = save_random_checkpoint(mentor['config'],
                                                root / f'mentor{len(cache)}.pth')
        local.append(dict(mentor, checkpoint=cache[key]))
    return local
