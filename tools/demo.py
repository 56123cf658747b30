"""`make demo`: ClassroomKD on real handwritten digits, end to end, with the stock tools.

1. pre-trains the mentors (a ResNet-32 teacher and ResNet-20, ResNet-14, MobileNetV2 peers);
2. trains a ResNet-8 student alone and with ClassroomKD (configs/cls/digits/);
3. evaluates every model on the test split and prints a table.

A model whose checkpoint already exists is not trained again.
"""
import re
import subprocess
import sys
import time
from pathlib import Path

import mmpretrain

ROOT = Path(__file__).resolve().parents[1]
STOCK_TOOLS = Path(mmpretrain.__file__).parent / '.mim' / 'tools'
CONFIGS = ROOT / 'configs' / 'cls' / 'digits'
JOBS = [  # (config, role)
    ('resnet32_digits', 'teacher'),
    ('resnet20_digits', 'peer'),
    ('resnet14_digits', 'peer'),
    ('mobilenetv2_digits', 'peer'),
    ('resnet8_digits', 'student, no distillation'),
    ('classroom_resnet8_digits', 'student, ClassroomKD'),
]


def run(tool: str, *args: str, show=re.compile(r'Epoch\((train|val)\)')) -> str:
    """Run a stock MMPretrain tool, echo its progress lines, return its output."""
    cmd = [sys.executable, str(STOCK_TOOLS / tool), *args]
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    for line in process.stdout:
        lines.append(line)
        if show.search(line):
            print('   ', line.split(' - ')[-1].strip()[:150], flush=True)
    if process.wait():
        sys.exit(f'{tool} {" ".join(args)} failed:\n' + ''.join(lines[-30:]))
    return ''.join(lines)


def main() -> None:
    results = []
    for name, role in JOBS:
        config = str(CONFIGS / f'{name}.py')
        work_dir = ROOT / 'work_dirs' / name
        checkpoint = work_dir / 'epoch_30.pth'
        start = time.time()
        if checkpoint.exists():
            print(f'== {name} ({role}): trained already, {checkpoint}', flush=True)
        else:
            print(f'== Training {name} ({role})', flush=True)
            run('train.py', config, '--work-dir', str(work_dir))
        output = run('test.py', config, str(checkpoint), '--work-dir', str(work_dir))
        accuracy = float(re.findall(r'accuracy/top1: ([\d.]+)', output)[-1])
        print(f'   test accuracy {accuracy:.2f}% ({time.time() - start:.0f} s)', flush=True)
        results.append((name, role, accuracy, checkpoint))

    print('\nHandwritten digits (scikit-learn), test split of 359 images:\n')
    print('| model | role | test top-1 (%) | checkpoint |')
    print('| --- | --- | --- | --- |')
    for name, role, accuracy, checkpoint in results:
        print(f'| {name} | {role} | {accuracy:.2f} | {checkpoint.relative_to(ROOT)} |')
    print(f'\nLogs: work_dirs/<model>/<timestamp>/; rank curves: '
          'python tools/plot_ranks.py work_dirs/classroom_resnet8_digits')


if __name__ == '__main__':
    main()
