"""Checkpoints: strict mentor loading, and MMEngine checkpoints under ``weights_only``.

torch >= 2.6 loads with ``weights_only=True``, which refuses the MMEngine checkpoints that
``--resume`` reads: their message hub pickles ``HistoryBuffer`` objects, numpy arrays and, for
each buffer, its statistics methods as ``getattr(HistoryBuffer, name)``. ``getattr`` cannot be
allowed safely (it reaches any attribute of an allowed object, e.g. a function's module
globals, which the file can then overwrite), so:

- ``HistoryBuffer`` stops pickling its methods (they are registered by code at import anyway)
  and ignores any that a file holds (a checkpoint must not replace the class-wide methods);
- checkpoints written without this plugin (a stock run, a mentor trained elsewhere) still name
  ``getattr``: under that name, the loader gets a stand-in that looks up only
  ``HistoryBuffer``'s four statistics methods;
- only the plain data types those checkpoints hold are allowed besides.
"""
import collections
import os.path as osp
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
from torch import nn

STATISTICS_METHODS = ('min', 'max', 'current', 'mean')


def _statistics_method(owner, name: str):
    """What ``getattr`` means in a checkpoint: one of HistoryBuffer's statistics methods."""
    if owner is not HistoryBuffer or name not in STATISTICS_METHODS:
        raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) is not allowed')
    return getattr(HistoryBuffer, name)


SAFE_GLOBALS = [
    HistoryBuffer, collections.Counter, np.ndarray, np.dtype, np._core.multiarray._reconstruct,
    np._core.multiarray.scalar, *(getattr(np.dtypes, name) for name in np.dtypes.__all__),
    (_statistics_method, 'builtins.getattr')
]


def _without_methods(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != 'statistics_methods'}


def _history_buffer_state(buffer: HistoryBuffer) -> dict:
    return _without_methods(buffer.__dict__)


def _set_history_buffer_state(buffer: HistoryBuffer, state: dict) -> None:
    buffer.__dict__.update(_without_methods(state))


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read checkpoints that MMEngine runners write."""
    HistoryBuffer.__getstate__ = _history_buffer_state
    HistoryBuffer.__setstate__ = _set_history_buffer_state
    torch.serialization.add_safe_globals(SAFE_GLOBALS)


def _first(keys, limit: int = 5) -> str:
    keys = list(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_mentor_checkpoint(model: nn.Module, checkpoint: str, name: str) -> None:
    """Load ``checkpoint`` (path or URL) into ``model`` strictly; any problem raises one
    error that names the mentor and the first offending keys."""
    where = f"mentor '{name}': checkpoint '{checkpoint}'"
    if '://' not in checkpoint and not osp.isfile(osp.expanduser(checkpoint)):
        raise FileNotFoundError(f'{where} does not exist')
    try:
        loaded = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
    except Exception as error:
        raise RuntimeError(f'{where} could not be loaded: {error}') from error
    state = loaded
    # the weights sit under 'state_dict' (MMEngine) or 'model' (CRD, image_classification_sota)
    if isinstance(loaded, dict):
        state = next((loaded[key] for key in ('state_dict', 'model')
                      if isinstance(loaded.get(key), dict)), loaded)
    if not isinstance(state, dict):
        raise ValueError(f'{where} holds no state dict')
    if all(key.startswith('module.') for key in state):  # saved from a DDP-wrapped model
        state = {key[len('module.'):]: value for key, value in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        lines = [line.strip() for line in str(error).splitlines() if 'size mismatch' in line]
        raise ValueError(f'{where} does not fit the mentor config: {_first(lines, 3)}') from None
    problems = []
    if result.missing_keys:
        problems.append(f'missing keys {_first(result.missing_keys)}')
    if result.unexpected_keys:
        problems.append(f'unexpected keys {_first(result.unexpected_keys)}')
    if problems:
        raise ValueError(f'{where} does not fit the mentor config: ' + '; '.join(problems))
