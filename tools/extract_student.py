"""Turn a classroom (ClassroomDistiller) checkpoint into a stock checkpoint of its student.

Usage:
    python tools/extract_student.py CLASSROOM_CKPT OUT_CKPT [--ema]

The output is ``{'state_dict': the student's weights without the 'student.' prefix, 'meta':
the classroom's meta without its training state}``. MMPretrain's and MMPose's stock
``tools/test.py`` and inference APIs load it with the student's own config.

Training state left out: the loop position and seed (``epoch``, ``iter``, ``seed``, which a
resume would read), the classroom's config (``cfg``: it builds the distiller, not the
student), the optimizer, schedulers and message hub. A ``dataset_meta`` holding numpy arrays
(MMPose's) is left out too: ``torch.load(weights_only=True)`` refuses them unless
``classroomkd_plugin`` is imported, and MMPose's ``init_model`` reads the same meta from the
config when the checkpoint has none.

EMA: MMEngine's EMAHook saves the averaged weights under ``state_dict`` and the plain ones
under ``ema_state_dict`` (keys ``module.student.*``), swapped so that checkpoints deploy the
average. This tool takes the plain student weights unless ``--ema`` is given.
"""
import argparse
import pickle
import sys
from pathlib import Path

import torch

# Lets the tool run from a checkout without installing the plugin.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# lets torch.load(weights_only=True) read the message hub of MMEngine checkpoints
import classroomkd_plugin  # noqa: E402,F401

PREFIX = 'student.'
TRAINING_STATE = ('epoch', 'iter', 'seed', 'cfg')
PLAIN_TYPES = (str, int, float, bool, type(None))


def is_plain(value) -> bool:
    """Whether ``value`` is made of Python containers and scalars only."""
    if isinstance(value, dict):
        return all(is_plain(k) and is_plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(is_plain(v) for v in value)
    return isinstance(value, PLAIN_TYPES)


def classroom_weights(checkpoint: dict, ema: bool) -> dict:
    """The distiller's plain (or, with ``ema``, averaged) weights."""
    if 'ema_state_dict' not in checkpoint:
        if ema:
            raise ValueError('--ema: the checkpoint has no ema_state_dict (the classroom was '
                             'trained without EMAHook)')
        return checkpoint['state_dict']
    if ema:
        return checkpoint['state_dict']
    return {key[len('module.'):]: value for key, value in checkpoint['ema_state_dict'].items()
            if key.startswith('module.')}


def extract_student(checkpoint: dict, ema: bool = False) -> dict:
    """The stock student checkpoint of a ClassroomDistiller checkpoint."""
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ValueError('not an MMEngine checkpoint: it has no state_dict')
    state = {key[len(PREFIX):]: value
             for key, value in classroom_weights(checkpoint, ema).items()
             if key.startswith(PREFIX)}
    if not state:
        raise ValueError(f"no '{PREFIX}' keys: not a ClassroomDistiller checkpoint")
    meta = {key: value for key, value in checkpoint.get('meta', {}).items()
            if key not in TRAINING_STATE}
    if not is_plain(meta.get('dataset_meta')):
        del meta['dataset_meta']
    return {'state_dict': state, 'meta': meta}


def main():
    parser = argparse.ArgumentParser(description='Extract the student of a classroom checkpoint')
    parser.add_argument('checkpoint', help='ClassroomDistiller checkpoint')
    parser.add_argument('out', help='the student checkpoint to write')
    parser.add_argument('--ema', action='store_true',
                        help="take the student's EMA weights (the classroom used EMAHook)")
    args = parser.parse_args()
    try:
        checkpoint = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
        student = extract_student(checkpoint, args.ema)
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
        sys.exit(f'{args.checkpoint}: {error}')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(student, args.out)
    print(f"{args.out}: {len(student['state_dict'])} tensors of the student")


if __name__ == '__main__':
    main()
