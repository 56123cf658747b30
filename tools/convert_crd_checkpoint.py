"""Convert a CIFAR-100 checkpoint of the CRD repository layout to an mmpretrain ImageClassifier.

The CRD teachers (e.g. ``resnet110_vanilla/ckpt_epoch_240.pth``) store ``{'model': state_dict,
...}`` with the keys of the plain PyTorch model. The backbones of this plugin mirror those module
names, so the conversion only re-prefixes keys: the classifier goes to ``head.fc`` and everything
else to ``backbone``. The result is checked against the backbone built for ``ARCH`` so that a
wrong arch or an unexpected key fails here rather than at load time.

Usage:
    python tools/convert_crd_checkpoint.py ARCH SRC.pth DST.pth

``ARCH`` is the name of the model config in ``configs/cls/_base_/models`` (e.g. ``resnet110``,
``wrn_40_2``, ``mobilenetv2``); the output loads with
``mmengine.runner.load_checkpoint(model, DST, strict=True)``.
"""
import argparse
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Type

import torch
from torch import Tensor

# Lets the tool run from a checkout without installing the plugin.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classroomkd_plugin.models.backbones import (  # noqa: E402
    CifarMobileNetV2, CifarResNet, CifarShuffleNetV1, CifarShuffleNetV2, CifarVGG,
    CifarWideResNet)

StateDict = Dict[str, Tensor]
MAX_REPORTED_PROBLEMS = 20

# config name -> (backbone class, backbone arch, prefix of the classifier in the CRD model)
ARCHS: Dict[str, Tuple[Type[torch.nn.Module], str, str]] = {
    **{name: (CifarResNet, name, 'fc') for name in (
        'resnet8', 'resnet14', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet110',
        'resnet8x4', 'resnet32x4')},
    'resnet50': (CifarResNet, 'resnet50', 'linear'),
    'wrn_16_2': (CifarWideResNet, 'wrn_16_2', 'fc'),
    'wrn_40_2': (CifarWideResNet, 'wrn_40_2', 'fc'),
    'vgg8': (CifarVGG, 'vgg8', 'classifier'),
    'vgg13': (CifarVGG, 'vgg13', 'classifier'),
    'mobilenetv2': (CifarMobileNetV2, 'mobilenetv2_0.5', 'classifier.0'),
    'shufflenetv1': (CifarShuffleNetV1, 'shufflenetv1_g3', 'linear'),
    'shufflenetv2': (CifarShuffleNetV2, 'shufflenetv2_1.0', 'linear'),
}


def check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f'Unknown arch {arch!r}; valid archs: {sorted(ARCHS)}')


def key_rules(arch: str) -> List[Tuple[str, str]]:
    """(CRD prefix, ImageClassifier prefix) pairs, tried in order; used in both directions."""
    check_arch(arch)
    classifier = ARCHS[arch][2]
    return [(f'{classifier}.', 'head.fc.'), ('', 'backbone.')]


def rename_key(key: str, rules: List[Tuple[str, str]], to_crd: bool = False) -> str:
    for crd_prefix, our_prefix in rules:
        src, dst = (our_prefix, crd_prefix) if to_crd else (crd_prefix, our_prefix)
        if key.startswith(src):
            return dst + key[len(src):]
    raise ValueError(f'Key {key!r} matches none of the prefixes {[r[1] for r in rules]}')


def crd_to_mmpretrain(arch: str, crd_state: StateDict) -> StateDict:
    """Rename a CRD state dict and check it against the expected ImageClassifier keys."""
    rules = key_rules(arch)
    state = OrderedDict((rename_key(strip_data_parallel(k), rules), v)
                        for k, v in crd_state.items())
    check_against_model(arch, state)
    return state


def strip_data_parallel(key: str) -> str:
    """CRD saves DataParallel-wrapped models (``module.`` keys) when trained on several GPUs."""
    return key[len('module.'):] if key.startswith('module.') else key


def mmpretrain_to_crd(arch: str, state: StateDict) -> StateDict:
    """Inverse of :func:`crd_to_mmpretrain` (without the check), e.g. to export weights."""
    rules = key_rules(arch)
    return OrderedDict((rename_key(k, rules, to_crd=True), v) for k, v in state.items())


def check_against_model(arch: str, state: StateDict) -> None:
    backbone_cls, backbone_arch, _ = ARCHS[arch]
    expected = {f'backbone.{k}': v.shape
                for k, v in backbone_cls(backbone_arch).state_dict().items()}
    # The head has as many classes as the checkpoint was trained for.
    num_classes = state['head.fc.weight'].shape[0] if 'head.fc.weight' in state else 0
    expected['head.fc.weight'] = torch.Size([num_classes, backbone_cls.out_channels(backbone_arch)])
    expected['head.fc.bias'] = torch.Size([num_classes])
    # Head keys first: a wrong classifier prefix is the likeliest cause of a mismatch.
    problems = [f'missing key {k!r}' for k in sorted(expected, key=is_backbone_key)
                if k not in state]
    problems += [f'unexpected key {k!r}' for k in state if k not in expected]
    problems += [f'shape of {k!r} is {tuple(v.shape)}, expected {tuple(expected[k])}'
                 for k, v in state.items() if k in expected and v.shape != expected[k]]
    if problems:
        shown = problems[:MAX_REPORTED_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f'... and {len(problems) - len(shown)} more')
        raise ValueError(f'The checkpoint does not match arch {arch!r} '
                         f'({backbone_cls.__name__}, {backbone_arch!r}):\n  ' + '\n  '.join(shown))


def is_backbone_key(key: str) -> bool:
    return key.startswith('backbone.')


def convert(arch: str, src: str, dst: str) -> None:
    check_arch(arch)
    checkpoint = torch.load(src, map_location='cpu', weights_only=True)
    crd_state = checkpoint.get('model', checkpoint)
    state = crd_to_mmpretrain(arch, crd_state)
    meta = {'arch': arch, 'source': Path(src).name}
    # Provenance recorded by CRD's training script, when present.
    for field in ('epoch', 'accuracy'):
        if field in checkpoint:
            value = checkpoint[field]
            meta[field] = value.item() if isinstance(value, Tensor) else value
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'state_dict': state, 'meta': meta}, dst)


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('arch', choices=sorted(ARCHS), metavar='ARCH',
                        help=f'model config name, one of {sorted(ARCHS)}')
    parser.add_argument('src', help='CRD checkpoint ({"model": state_dict, ...})')
    parser.add_argument('dst', help='output checkpoint for mmengine.runner.load_checkpoint')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        convert(args.arch, args.src, args.dst)
    except ValueError as error:
        sys.exit(f'error: {error}')
    print(f'Converted {args.src} ({args.arch}) to {args.dst}')


if __name__ == '__main__':
    main()
