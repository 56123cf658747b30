import importlib.util
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / 'shared' / 'data'

# Configs name files relative to the repository root, as the tools are run from there.
os.chdir(REPO)
torch.set_num_threads(min(2, torch.get_num_threads()))


def load_tool(name: str):
    """A script of tools/ as a module."""
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_random_checkpoint(config, path: Path) -> str:
    """Build the model of ``config`` (a config file or a model dict) with random weights and
    save it as a checkpoint."""
    from classroomkd_plugin.models.distillers.classroom_distiller import (build_model,
                                                                         load_model_config)
    cfg, scope = load_model_config(config)
    model = build_model(cfg, scope or 'mmpretrain')  # model-only files name no scope
    torch.save({'state_dict': model.state_dict()}, path)
    return str(path)


@pytest.fixture(scope='session')
def digits_mentors(tmp_path_factory):
    """Random-init checkpoints of two digits mentors: ResNet-20 (teacher) and ResNet-14."""
    import classroomkd_plugin  # noqa: F401  registers the CIFAR backbones
    root = tmp_path_factory.mktemp('mentors')
    return [
        dict(name=arch, config=f'configs/cls/digits/{arch}_digits.py',
             checkpoint=save_random_checkpoint(f'configs/cls/digits/{arch}_digits.py',
                                               root / f'{arch}.pth'))
        for arch in ('resnet20', 'resnet14')
    ]


@pytest.fixture(autouse=True)
def isolated_default_scope():
    """A Runner leaves its default scope (mmpose, mmpretrain) current for the whole process:
    restore the previous ones so that no test depends on the order the tests run in."""
    from mmengine.registry import DefaultScope
    before = dict(DefaultScope._instance_dict)
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(before)


@pytest.fixture(scope='session')
def fashion_mnist_root():
    """data/fashion_mnist with the four checked files (the data step fetches them, as `make
    demo` does); the tests that need them skip, saying why, when no source has them."""
    from classroomkd_plugin.datasets.fashion_mnist import (FashionMNISTUnavailable,
                                                           prepare_fashion_mnist)
    try:
        return prepare_fashion_mnist(REPO / 'data' / 'fashion_mnist')
    except FashionMNISTUnavailable as error:
        pytest.skip(str(error))
