"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, arXiv 1708.07747): the four IDX files, fetched
and checked without a manual step, and a validation split held out of the training set."""
import gzip
import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import FashionMNIST
from mmpretrain.registry import DATASETS

from .label_noise import replace_labels

DEFAULT_ROOT = Path('data/fashion_mnist')
DEBIAN_DIR = Path('/usr/share/datasets/fashion-mnist')
DEBIAN_PACKAGE = 'dataset-fashion-mnist'
# Size and SHA-256 of each file *un-gzipped* (the .gz files differ between mirrors, the data
# does not): 60,000 training and 10,000 test images of 28x28.
FILES: Dict[str, Tuple[int, str]] = {
    'train-images-idx3-ubyte':
    (47040016, 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888'),
    'train-labels-idx1-ubyte':
    (60008, 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9'),
    't10k-images-idx3-ubyte':
    (7840016, '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b'),
    't10k-labels-idx1-ubyte':
    (10008, '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34'),
}
HOW_TO_GET = (
    'Get the four files of https://github.com/zalandoresearch/fashion-mnist (data/fashion/*.gz) '
    'and un-gzip them into {root}, or on Debian/Ubuntu run '
    f'`sudo apt-get install {DEBIAN_PACKAGE}` and run this again.')


class FashionMNISTUnavailable(RuntimeError):
    """None of the sources gave the Fashion-MNIST files."""


def _problems(root: Path, files: Dict[str, Tuple[int, str]]) -> List[str]:
    """What is wrong with the files in ``root`` (an empty list when they are all right)."""
    problems = []
    for name, (size, sha256) in files.items():
        path = root / name
        if not path.is_file():
            problems.append(f'{name} is missing')
        elif path.stat().st_size != size:
            problems.append(f'{name} has {path.stat().st_size} bytes, not {size}')
        elif hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            problems.append(f'{name} has the wrong SHA-256')
    return problems


def _copy_gzipped(source: Path, root: Path, files: Dict[str, Tuple[int, str]]) -> None:
    """Un-gzip ``source/<name>.gz`` (or copy ``source/<name>``) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name in files:
        packed, plain = source / f'{name}.gz', source / name
        if packed.is_file():
            with gzip.open(packed, 'rb') as src, open(root / name, 'wb') as dst:
                shutil.copyfileobj(src, dst)
        elif plain.is_file():
            shutil.copyfile(plain, root / name)


def apt_install(package: str = DEBIAN_PACKAGE) -> str:
    """Install a Debian package when running as root on a system with apt; says what happened."""
    if shutil.which('apt-get') is None:
        return 'no apt-get on this system'
    if os.geteuid() != 0:
        return f'not root: apt-get install {package} needs sudo'
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    install = ['apt-get', 'install', '-y', '-q', package]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode:  # the package lists may be missing or stale
        subprocess.run(['apt-get', 'update', '-q'], env=env, capture_output=True, timeout=900)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode:
        return f'apt-get install {package} failed: {done.stderr.strip()[-300:]}'
    return f'installed {package}'


def mmpretrain_download(root: Path) -> str:
    """MMPretrain's own download of the four files (needs access to its mirror)."""
    try:
        FashionMNIST(data_root=str(root), download=True)
    except Exception as error:  # network errors come in many types
        return f'download failed: {type(error).__name__}: {error}'
    return f'downloaded into {root}'


def prepare_fashion_mnist(root: Path = DEFAULT_ROOT,
                          debian_dir: Path = DEBIAN_DIR,
                          install: Callable[[], str] = apt_install,
                          download: Callable[[Path], str] = mmpretrain_download,
                          files: Dict[str, Tuple[int, str]] = FILES,
                          log: Callable[[str], None] = print) -> Path:
    """Make ``root`` hold the four un-gzipped Fashion-MNIST files, checked against their sizes
    and SHA-256, from the first source that works: the files already there; the Debian package's
    directory; that package installed with apt (as root); MMPretrain's download.

    Raises:
        FashionMNISTUnavailable: with what each source said and how to get the files.
    """
    root = Path(root)

    def from_debian() -> str:
        if not debian_dir.is_dir():
            return f'{debian_dir} does not exist'
        _copy_gzipped(debian_dir, root, files)
        return f'copied from {debian_dir}'

    sources = (
        ('the copy in place', lambda: 'checked'),
        ('the Debian package', from_debian),
        (f'apt-get install {DEBIAN_PACKAGE}', lambda: f'{install()}; {from_debian()}'),
        ("MMPretrain's download", lambda: download(root)),
    )
    tried = []
    for source, fetch in sources:
        said = fetch()
        problems = _problems(root, files)
        if not problems:
            if tried:
                log(f'Fashion-MNIST: {root} from {source} ({said})')
            return root
        tried.append(f'{source}: {said}; {"; ".join(problems)}')
    raise FashionMNISTUnavailable('Fashion-MNIST is not available:\n  ' + '\n  '.join(tried) +
                                  '\n' + HOW_TO_GET.format(root=root))


SPLITS = ('train', 'val', 'test')


@DATASETS.register_module()
class FashionMNISTSplit(FashionMNIST):
    """MMPretrain's ``FashionMNIST`` with a validation split held out of the training images,
    so that every choice can be made without the test split.

    Images are served as 28x28x3 uint8 arrays (the grey channel repeated), like MMPretrain's
    CIFAR datasets, so the CIFAR models and pipelines apply unchanged.

    Args:
        split (str): 'train' (the training images outside the validation split), 'val'
            (``val_size`` training images of a fixed shuffle) or 'test' (the 10,000 test images).
        val_size (int): number of training images held out for 'val'. Defaults to 10000.
        subset (int, optional): use only the first ``subset`` images of the split (the same
            images for every seed), for short protocols. Defaults to all.
        label_noise (float): fraction of labels replaced by a random other class, to make a
            deliberately weak mentor. Defaults to 0.
        seed (int): seed of the label noise.
        **kwargs: other arguments of :class:`mmpretrain.datasets.FashionMNIST` (``data_root``).
    """

    def __init__(self, split: str = 'train', val_size: int = 10000,
                 subset: Optional[int] = None, label_noise: float = 0.0, seed: int = 0,
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(f'FashionMNISTSplit: split must be one of {list(SPLITS)}, '
                             f'got {split!r}')
        kwargs.setdefault('download', False)
        self.part = split
        self.val_size = val_size
        self.subset = subset
        self.label_noise = label_noise
        self.noise_seed = seed
        # MMPretrain 1.2 reads the test files when test_mode is set, whatever its split says
        super().__init__(split='test' if split == 'test' else 'train',
                         test_mode=split == 'test', **kwargs)

    def load_data_list(self) -> List[dict]:
        data = super().load_data_list()
        if self.part != 'test':
            order = np.random.RandomState(0).permutation(len(data))
            held_out = order[:self.val_size]
            index = held_out if self.part == 'val' else np.sort(order[self.val_size:])
            data = [data[i] for i in index]
        data = data[:self.subset]
        labels = replace_labels(np.array([int(d['gt_label']) for d in data]), self.label_noise,
                                len(self.METAINFO['classes']), self.noise_seed)
        return [
            dict(img=np.repeat(d['img'][..., None], 3, axis=2), gt_label=int(label))
            for d, label in zip(data, labels)
        ]

