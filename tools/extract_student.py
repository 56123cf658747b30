"""Turn a classroom (ClassroomDistiller) checkpoint into a stock checkpoint of its student,
and the student's stand-alone config beside it.

Usage:
    python tools/extract_student.py CLASSROOM_CKPT OUT_CKPT [--ema] [--config CLASSROOM_CONFIG]

Writes OUT_CKPT, ``{'state_dict': the student's weights without the 'student.' prefix, 'meta':
the classroom's meta without its training state}``, and OUT_CKPT with the suffix ``.py``: the
classroom config with its model replaced by the student's, the data pipelines, codec,
evaluators and ``dataset_meta`` kept, and the classroom's hooks, data wrappers and (where the
student needs none of the plugin's types) the plugin's import left out
(``classroomkd_plugin.student.student_config``). The classroom config is the one saved in the
checkpoint by MMEngine's Runner, or ``--config``. MMPretrain's and MMPose's stock
``tools/test.py`` and inference APIs (``init_model``, ``inference_topdown``,
``ImageClassificationInferencer``) take the pair.

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

from mmengine.config import Config  # noqa: E402

# importing the plugin also lets torch.load(weights_only=True) read the message hub of
# MMEngine checkpoints
from classroomkd_plugin.student import extract_student, student_config  # noqa: E402


def classroom_config(checkpoint: dict, path=None) -> Config:
    """The classroom config: the file ``path``, else the one the Runner saved in the
    checkpoint."""
    if path is not None:
        return Config.fromfile(path)
    text = checkpoint.get('meta', {}).get('cfg')
    if not text:
        raise ValueError('its meta holds no config (not saved by a Runner): pass --config '
                         'CLASSROOM_CONFIG')
    return Config.fromstring(text, '.py')


def main(argv=None):
    parser = argparse.ArgumentParser(description='Extract the student of a classroom checkpoint')
    parser.add_argument('checkpoint', help='ClassroomDistiller checkpoint')
    parser.add_argument('out', help='the student checkpoint to write; its config goes beside '
                        'it, with the suffix .py')
    parser.add_argument('--ema', action='store_true',
                        help="take the student's EMA weights (the classroom used EMAHook)")
    parser.add_argument('--config', help="the classroom's config (default: the one saved in "
                        'the checkpoint)')
    args = parser.parse_args(argv)
    config_out = Path(args.out).with_suffix('.py')
    try:
        checkpoint = torch.load(args.checkpoint, map_location='cpu', weights_only=True)
        student = extract_student(checkpoint, args.ema)
        config = student_config(classroom_config(checkpoint, args.config))
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as error:
        sys.exit(f'{args.checkpoint}: {error}')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(student, args.out)
    config.dump(str(config_out))
    print(f"{args.out}: {len(student['state_dict'])} tensors of the student; "
          f'{config_out}: its config')


if __name__ == '__main__':
    main()
