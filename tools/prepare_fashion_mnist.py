"""Put the four Fashion-MNIST files in data/fashion_mnist/, checked (`make data` runs this).

Sources, the first that works: the files already there; the Debian package
dataset-fashion-mnist; that package installed with apt (as root); MMPretrain's download.

    python tools/prepare_fashion_mnist.py [--root data/fashion_mnist]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from classroomkd_plugin.datasets.fashion_mnist import (  # noqa: E402
    DEFAULT_ROOT, FashionMNISTUnavailable, prepare_fashion_mnist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    try:
        root = prepare_fashion_mnist(args.root)
    except FashionMNISTUnavailable as error:
        sys.exit(str(error))
    print(f'Fashion-MNIST ready in {root}')


if __name__ == '__main__':
    main()
