"""tools/plot_ranks.py on the work dir of a real (tiny) classroom run and on a synthetic log."""
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

import classroomkd_plugin  # noqa: F401
from conftest import REPO

spec = importlib.util.spec_from_file_location('plot_ranks', REPO / 'tools' / 'plot_ranks.py')
plot_ranks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot_ranks)


def check_png(path) -> None:
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == 'PNG'
        assert image.width >= 600 and image.height >= 400
        pixels = np.asarray(image.convert('L'), dtype=float)
    assert pixels.std() > 5  # not a blank canvas


def synthetic_work_dir(root):
    """Two runs; the newer one has a teacher that stops teaching from iteration 30 on, a
    validation line and a line still being written."""
    old = root / '20240101_000000' / 'vis_data'
    old.mkdir(parents=True)
    (old / 'scalars.json').write_text(json.dumps({'classroom/r_s': 1.0, 'iter': 1}) + '\n')
    new = root / '20240102_000000' / 'vis_data'
    new.mkdir(parents=True)
    lines = []
    for i in range(1, 11):
        teaching = float(i < 3 or i > 6)
        lines.append(json.dumps({
            'loss': 1.0 / i, 'classroom/r_s': 0.3 + 0.05 * i,
            'classroom/r_teacher': 0.9, 'classroom/t_teacher': 1 + 4 * (0.6 - 0.05 * i),
            'classroom/active_teacher': teaching,
            'classroom/r_peer': 0.6, 'classroom/t_peer': 2.0, 'classroom/active_peer': 1.0,
            'epoch': 1, 'iter': 10 * i, 'step': 10 * i}))
        if i == 5:
            lines.append(json.dumps({'accuracy/top1': 50.0, 'step': 1}))
    (new / 'scalars.json').write_text('\n'.join(lines) + '\n{"classroom/r_s": 0.')
    return root


def test_synthetic_log(tmp_path):
    work_dir = synthetic_work_dir(tmp_path / 'run')
    scalars = plot_ranks.find_scalars(work_dir)
    assert scalars.parent.parent.name == '20240102_000000'
    log = plot_ranks.read_classroom(scalars)
    assert log.mentors == ['teacher', 'peer']
    assert log.iters.tolist() == [10.0 * i for i in range(1, 11)]
    assert log.active['teacher'].tolist() == [1, 1, 0, 0, 0, 0, 1, 1, 1, 1]
    assert log.student_rank[0] == pytest.approx(0.35)

    out = plot_ranks.main([str(work_dir), '--out', str(tmp_path / 'plots' / 'ranks.png')])
    check_png(out)


def test_command_line_default_output(tmp_path):
    work_dir = synthetic_work_dir(tmp_path / 'run')
    result = subprocess.run([sys.executable, str(REPO / 'tools' / 'plot_ranks.py'), str(work_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    check_png(work_dir / 'ranks.png')


def test_clear_errors(tmp_path):
    with pytest.raises(SystemExit, match='no \\*/vis_data/scalars.json under'):
        plot_ranks.main([str(tmp_path)])
    plain = tmp_path / 'plain' / '20240101_000000' / 'vis_data'
    plain.mkdir(parents=True)
    (plain / 'scalars.json').write_text(json.dumps({'loss': 1.0, 'iter': 10}) + '\n')
    with pytest.raises(SystemExit, match="holds no classroom/r_s.*ClassroomHook"):
        plot_ranks.main([str(tmp_path / 'plain')])


def test_real_classroom_run(tmp_path, digits_mentors):
    cfg = Config.fromfile('configs/cls/digits/classroom_resnet8_digits.py')
    cfg.model.mentors = digits_mentors
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 1
    cfg.default_hooks.logger.interval = 5
    cfg.train_dataloader.dataset.dataset.indices = 640  # 10 iterations of 64
    # the mentor check has its own tests
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] == 'ClassroomHook']
    runner = Runner.from_cfg(cfg)
    runner.train()

    log = plot_ranks.read_classroom(plot_ranks.find_scalars(tmp_path))
    assert log.mentors == ['resnet20', 'resnet14']
    assert log.iters.tolist() == [5.0, 10.0]
    assert all(np.isfinite(log.ranks[m]).all() and np.isfinite(log.temperatures[m]).all()
               for m in log.mentors)
    out = plot_ranks.main([str(tmp_path)])
    assert out == tmp_path / 'ranks.png'
    check_png(out)
