"""The state-dict layout of CRD's CIFAR-100 models, written out from their published definitions.

CRD (Tian et al., ICLR 2020; github.com/HobbitLong/RepDistiller, ``models/resnet.py``,
``resnetv2.py``, ``wrn.py``, ``vgg.py``, ``mobilenetv2.py``, ``ShuffleNetv1.py``,
``ShuffleNetv2.py``, and the ``model_dict`` of ``models/__init__.py``) publishes the teachers
that the paper's classrooms use. Every key and shape below is read off those files, stage by
stage; nothing here comes from this plugin's code, so converting a state dict of this layout
and loading it strictly into our models checks our architectures against CRD's.
"""
from typing import Dict, List, Tuple

Layout = Dict[str, Tuple[int, ...]]
NUM_CLASSES = 100


def conv(name: str, out: int, inp: int, k: int, bias: bool = False) -> Layout:
    """nn.Conv2d; ``inp`` is the input channels per group."""
    return {f'{name}.weight': (out, inp, k, k), **({f'{name}.bias': (out, )} if bias else {})}


def bn(name: str, c: int) -> Layout:
    """nn.BatchNorm2d: affine parameters, running statistics and the batch counter."""
    return {**{f'{name}.{p}': (c, ) for p in ('weight', 'bias', 'running_mean', 'running_var')},
            f'{name}.num_batches_tracked': ()}


def linear(name: str, inp: int) -> Layout:
    return {f'{name}.weight': (NUM_CLASSES, inp), f'{name}.bias': (NUM_CLASSES, )}


def resnet(widths: List[int], blocks: int) -> Layout:
    """models/resnet.py ``ResNet(depth, num_filters, 'basicblock')``: 3x3 stem of widths[0];
    three stages of ``blocks`` = (depth - 2) / 6 basic blocks (stride 2 from the second stage);
    a 1x1 ``downsample`` conv + BN where the stride or the width changes; ``fc``."""
    layout = {**conv('conv1', widths[0], 3, 3), **bn('bn1', widths[0])}
    inp = widths[0]
    for s, width in enumerate(widths[1:], start=1):
        for i in range(blocks):
            p = f'layer{s}.{i}'
            layout.update({**conv(f'{p}.conv1', width, inp, 3), **bn(f'{p}.bn1', width),
                           **conv(f'{p}.conv2', width, width, 3), **bn(f'{p}.bn2', width)})
            if i == 0 and (s > 1 or inp != width):
                layout.update({**conv(f'{p}.downsample.0', width, inp, 1),
                               **bn(f'{p}.downsample.1', width)})
            inp = width
    return {**layout, **linear('fc', widths[-1])}


def resnet50() -> Layout:
    """models/resnetv2.py ``ResNet50``: 3x3 64-channel stem; bottleneck stages of 64, 128, 256,
    512 planes (x4 out) with [3, 4, 6, 3] blocks; a 1x1 ``shortcut`` conv + BN on each stage's
    first block; ``linear``."""
    layout = {**conv('conv1', 64, 3, 3), **bn('bn1', 64)}
    inp = 64
    for s, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3)), start=1):
        for i in range(blocks):
            p = f'layer{s}.{i}'
            layout.update({**conv(f'{p}.conv1', planes, inp, 1), **bn(f'{p}.bn1', planes),
                           **conv(f'{p}.conv2', planes, planes, 3), **bn(f'{p}.bn2', planes),
                           **conv(f'{p}.conv3', 4 * planes, planes, 1),
                           **bn(f'{p}.bn3', 4 * planes)})
            if i == 0:
                layout.update({**conv(f'{p}.shortcut.0', 4 * planes, inp, 1),
                               **bn(f'{p}.shortcut.1', 4 * planes)})
            inp = 4 * planes
    return {**layout, **linear('linear', 2048)}


def wrn(depth: int, widen: int) -> Layout:
    """models/wrn.py ``WideResNet``: 3x3 16-channel stem; ``block1..3.layer`` of
    (depth - 4) / 6 pre-activation blocks of widths 16k, 32k, 64k (BN before each conv, a 1x1
    ``convShortcut`` where the width changes); final ``bn1``; ``fc``."""
    layout = conv('conv1', 16, 3, 3)
    inp = 16
    for s, width in enumerate((16 * widen, 32 * widen, 64 * widen), start=1):
        for i in range((depth - 4) // 6):
            p = f'block{s}.layer.{i}'
            layout.update({**bn(f'{p}.bn1', inp), **conv(f'{p}.conv1', width, inp, 3),
                           **bn(f'{p}.bn2', width), **conv(f'{p}.conv2', width, width, 3)})
            if inp != width:
                layout.update(conv(f'{p}.convShortcut', width, inp, 1))
            inp = width
    return {**layout, **bn('bn1', 64 * widen), **linear('fc', 64 * widen)}


def vgg_bn(stages: List[List[int]]) -> Layout:
    """models/vgg.py ``VGG(cfg, batch_norm=True)``: ``block0..4`` of [conv (with bias), BN, ReLU]
    per width, so convs at indices 0, 3, ... and BNs at 1, 4, ...; ``classifier`` on 512."""
    layout, inp = {}, 3
    for b, widths in enumerate(stages):
        for j, width in enumerate(widths):
            layout.update({**conv(f'block{b}.{3 * j}', width, inp, 3, bias=True),
                           **bn(f'block{b}.{3 * j + 1}', width)})
            inp = width
    return {**layout, **linear('classifier', 512)}


def mobile_half() -> Layout:
    """models/mobilenetv2.py ``mobile_half``: expansion T = 6, width 0.5: ``conv1`` (3x3 stride
    2, 16 channels) as Sequential(conv, BN); ``blocks.b.i.conv`` = 1x1 expand (0, 1), 3x3
    depthwise (3, 4), 1x1 project (6, 7); ``conv2`` 1x1 to 1280; ``classifier.0``."""
    # (expansion, output channels at width 0.5, blocks) of the inverted residual setting
    setting = [(1, 8, 1), (6, 12, 2), (6, 16, 3), (6, 32, 4), (6, 48, 3), (6, 80, 3),
               (6, 160, 1)]
    layout = {**conv('conv1.0', 16, 3, 3), **bn('conv1.1', 16)}
    inp = 16
    for b, (t, out, n) in enumerate(setting):
        for i in range(n):
            p, hidden = f'blocks.{b}.{i}.conv', inp * t
            layout.update({**conv(f'{p}.0', hidden, inp, 1), **bn(f'{p}.1', hidden),
                           **conv(f'{p}.3', hidden, 1, 3), **bn(f'{p}.4', hidden),
                           **conv(f'{p}.6', out, hidden, 1), **bn(f'{p}.7', out)})
            inp = out
    return {**layout, **conv('conv2.0', 1280, 160, 1), **bn('conv2.1', 1280),
            **linear('classifier.0', 1280)}


def shufflev1() -> Layout:
    """models/ShuffleNetv1.py ``ShuffleV1``: 1x1 24-channel stem; stages of 240, 480, 960
    channels with [4, 8, 4] bottlenecks, groups 3. A stage's first block has stride 2 and
    concatenates the pooled input, so its branch makes width - input channels; the bottleneck
    has a quarter of the block's output; the first 1x1 is ungrouped on the 24-channel stem."""
    groups = 3
    layout = {**conv('conv1', 24, 3, 1), **bn('bn1', 24)}
    inp = 24
    for s, (width, n) in enumerate(zip((240, 480, 960), (4, 8, 4)), start=1):
        for i in range(n):
            p = f'layer{s}.{i}'
            out = width - inp if i == 0 else width
            mid, g = out // 4, 1 if inp == 24 else groups
            layout.update({**conv(f'{p}.conv1', mid, inp // g, 1), **bn(f'{p}.bn1', mid),
                           **conv(f'{p}.conv2', mid, 1, 3), **bn(f'{p}.bn2', mid),
                           **conv(f'{p}.conv3', out, mid // groups, 1), **bn(f'{p}.bn3', out)})
            inp = width
    return {**layout, **linear('linear', 960)}


def shufflev2() -> Layout:
    """models/ShuffleNetv2.py ``ShuffleV2`` (net_size 1): 1x1 24-channel stem; stages of 116,
    232, 464 channels, each a DownBlock (left: depthwise 3x3 + 1x1; right: 1x1, depthwise 3x3,
    1x1; half the output each) and [3, 7, 3] BasicBlocks on half the channels; ``conv2`` 1x1
    to 1024 + ``bn2``; ``linear``."""
    layout = {**conv('conv1', 24, 3, 1), **bn('bn1', 24)}
    inp = 24
    for s, (width, n) in enumerate(zip((116, 232, 464), (3, 7, 3)), start=1):
        p, mid = f'layer{s}.0', width // 2
        layout.update({**conv(f'{p}.conv1', inp, 1, 3), **bn(f'{p}.bn1', inp),
                       **conv(f'{p}.conv2', mid, inp, 1), **bn(f'{p}.bn2', mid),
                       **conv(f'{p}.conv3', mid, inp, 1), **bn(f'{p}.bn3', mid),
                       **conv(f'{p}.conv4', mid, 1, 3), **bn(f'{p}.bn4', mid),
                       **conv(f'{p}.conv5', mid, mid, 1), **bn(f'{p}.bn5', mid)})
        for i in range(1, n + 1):
            p = f'layer{s}.{i}'
            layout.update({**conv(f'{p}.conv1', mid, mid, 1), **bn(f'{p}.bn1', mid),
                           **conv(f'{p}.conv2', mid, 1, 3), **bn(f'{p}.bn2', mid),
                           **conv(f'{p}.conv3', mid, mid, 1), **bn(f'{p}.bn3', mid)})
        inp = width
    return {**layout, **conv('conv2', 1024, 464, 1), **bn('bn2', 1024),
            **linear('linear', 1024)}


# our config name -> (CRD's layout, CRD's classifier module)
CRD_LAYOUTS = {
    'resnet8': (resnet([16, 16, 32, 64], 1), 'fc'),
    'resnet14': (resnet([16, 16, 32, 64], 2), 'fc'),
    'resnet20': (resnet([16, 16, 32, 64], 3), 'fc'),
    'resnet32': (resnet([16, 16, 32, 64], 5), 'fc'),
    'resnet44': (resnet([16, 16, 32, 64], 7), 'fc'),
    'resnet56': (resnet([16, 16, 32, 64], 9), 'fc'),
    'resnet110': (resnet([16, 16, 32, 64], 18), 'fc'),
    'resnet8x4': (resnet([32, 64, 128, 256], 1), 'fc'),
    'resnet32x4': (resnet([32, 64, 128, 256], 5), 'fc'),
    'resnet50': (resnet50(), 'linear'),
    'wrn_16_2': (wrn(16, 2), 'fc'),
    'wrn_40_2': (wrn(40, 2), 'fc'),
    'vgg8': (vgg_bn([[64], [128], [256], [512], [512]]), 'classifier'),
    'vgg13': (vgg_bn([[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]]), 'classifier'),
    'mobilenetv2': (mobile_half(), 'classifier.0'),
    'shufflenetv1': (shufflev1(), 'linear'),
    'shufflenetv2': (shufflev2(), 'linear'),
}
