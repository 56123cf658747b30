"""The trained student on its own: its weights and its stand-alone config, from a classroom's.

A classroom checkpoint holds the student's weights under ``student.``; a classroom config names
the student (``model.student``: a config file, a scoped path or a model dict) inside a
``ClassroomDistiller``, with the data, codec, evaluators and hooks of the student's task.
``extract_student`` and ``student_config`` turn them into the checkpoint and config that the
stock tools and inference APIs of MMPretrain and MMPose take (``tools/extract_student.py``
writes both). ``patch_mmpose_init_model`` lets MMPose's ``init_model`` take the classroom's
own pair.
"""
import copy
import functools
import importlib.abc
import importlib.util
import sys
from pathlib import Path
from typing import Iterator, Set

from mmengine.config import Config
from mmengine.registry import Registry
from mmengine.registry import root as root_registries
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict

from classroomkd_plugin.models.distillers.classroom_distiller import load_model_config

PREFIX = 'student.'
TRAINING_STATE = ('epoch', 'iter', 'seed', 'cfg')
PLAIN_TYPES = (str, int, float, bool, type(None))
# the plugin's wrappers of a classroom's training data (deterministic views for the mentor
# cache): type -> the key of the config they wrap
DATA_WRAPPERS = {'DeterministicViews': 'dataset', 'ViewSampler': 'sampler'}
# the state of the classroom's run, which the student's would take for its own
RUN_STATE = ('work_dir', 'load_from', 'resume', 'launcher')
INFERENCE = 'mmpose.apis.inference'


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


def is_classroom(cfg: Config) -> bool:
    model = cfg.get('model')
    return isinstance(model, dict) and model.get('type') == 'ClassroomDistiller'


def plugin_types() -> Set[str]:
    """The names this plugin registers, in MMEngine's registries and their children."""
    names, registries = set(), [r for r in vars(root_registries).values()
                                if isinstance(r, Registry)]
    while registries:
        registry = registries.pop()
        names.update(name for name, cls in registry.module_dict.items()
                     if getattr(cls, '__module__', '').startswith('classroomkd_plugin.'))
        registries.extend(registry.children.values())
    return names


def _types(value) -> Iterator[str]:
    """Every ``type`` named in a config value."""
    if isinstance(value, dict):
        if isinstance(value.get('type'), str):
            yield value['type']
        for item in value.values():
            yield from _types(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _types(item)


def student_config(classroom: Config) -> Config:
    """The student's stand-alone config: ``classroom`` with its model replaced by the
    student's (the distiller's ``data_preprocessor``, when it sets one, replacing the
    student's own), its data, codec, evaluators and the rest kept. Left out: the plugin's
    custom hooks and data wrappers (the classroom's training machinery), the run's
    ``work_dir``, ``load_from``, ``resume`` and ``launcher``, and the plugin's import unless
    a type that remains is the plugin's (a CIFAR backbone, the digits dataset)."""
    if not is_classroom(classroom):
        raise ValueError('not a classroom config: its model is not a ClassroomDistiller')
    cfg = copy.deepcopy(classroom.to_dict())
    distiller = cfg['model']
    student, scope = load_model_config(distiller['student'])
    student = copy.deepcopy(student.to_dict())
    if distiller.get('data_preprocessor') is not None:
        student['data_preprocessor'] = distiller['data_preprocessor']
    if scope is not None and scope != cfg.get('default_scope'):
        student['_scope_'] = scope  # a student built in another scope than the config's
    cfg['model'] = student
    for key in RUN_STATE:
        cfg.pop(key, None)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for key in ('dataset', 'sampler'):
            part = (cfg.get(loader) or {}).get(key)
            while isinstance(part, dict) and part.get('type') in DATA_WRAPPERS:
                part = part[DATA_WRAPPERS[part['type']]]
                cfg[loader][key] = part
    plugin = plugin_types()
    if 'custom_hooks' in cfg:
        cfg['custom_hooks'] = [hook for hook in cfg['custom_hooks']
                               if hook.get('type') not in plugin]
    imports = cfg.get('custom_imports', {}).get('imports')
    if imports is not None and not plugin & set(_types(cfg)):
        imports = [name for name in ([imports] if isinstance(imports, str) else imports)
                   if name.split('.')[0] != 'classroomkd_plugin']
        if imports:
            cfg['custom_imports']['imports'] = imports
        else:
            del cfg['custom_imports']
    return Config(cfg)


def _init_model_with_classrooms(init_model):
    """MMPose's ``init_model``, which also takes a classroom config and checkpoint: it builds
    the student alone from ``student_config`` and loads the checkpoint's student weights (as
    MMEngine loads the checkpoint: with EMAHook, the averaged ones)."""

    @functools.wraps(init_model)
    def init_student_of_classroom(config, checkpoint=None, device='cuda:0', cfg_options=None):
        cfg = Config.fromfile(config) if isinstance(config, (str, Path)) else config
        if not isinstance(cfg, Config) or not is_classroom(cfg):
            return init_model(cfg, checkpoint, device, cfg_options)
        if cfg_options is not None:  # they name the classroom config's keys
            cfg = copy.deepcopy(cfg)
            cfg.merge_from_dict(cfg_options)
        model = init_model(student_config(cfg), None, device)
        if checkpoint is not None:
            loaded = _load_checkpoint(checkpoint, map_location='cpu')
            state = extract_student(loaded, ema='ema_state_dict' in loaded)['state_dict']
            load_state_dict(model, state)
            if 'dataset_meta' in loaded.get('meta', {}):  # init_model's order: checkpoint first
                model.dataset_meta = loaded['meta']['dataset_meta']
        return model

    init_student_of_classroom.takes_classrooms = True
    return init_student_of_classroom


def _patch(inference) -> None:
    """Replace ``init_model`` in ``mmpose.apis.inference`` and, once imported, ``mmpose.apis``."""
    if getattr(inference.init_model, 'takes_classrooms', False):
        return
    inference.init_model = _init_model_with_classrooms(inference.init_model)
    apis = sys.modules.get('mmpose.apis')
    if apis is not None and hasattr(apis, 'init_model'):
        apis.init_model = inference.init_model


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches ``mmpose.apis.inference`` right after its code runs, so that nothing of MMPose
    is imported before a user imports it (nor at all for classification)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != INFERENCE:
            return None
        sys.meta_path.remove(self)  # once; the other finders give the real spec
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def exec_and_patch(module):
                exec_module(module)
                _patch(module)

            spec.loader.exec_module = exec_and_patch
        return spec


def patch_mmpose_init_model() -> None:
    """Let ``mmpose.apis.init_model`` take a classroom config and checkpoint (stock MMPose
    reads ``model.backbone``, which a classroom lacks, and fails with an AttributeError): now
    if MMPose's inference module is imported, else when it is. Code that imported
    ``init_model`` before this plugin keeps MMPose's own."""
    if INFERENCE in sys.modules:
        _patch(sys.modules[INFERENCE])
    elif not any(isinstance(finder, _PatchOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
