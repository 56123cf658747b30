import contextlib
import hashlib
import json
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.model import BaseModel
from mmengine.registry import MODELS, DefaultScope
from torch import Tensor

from classroomkd_plugin.checkpoint import load_mentor_checkpoint
from classroomkd_plugin.core import check_mentor_name
from classroomkd_plugin.models.adapters import TaskAdapter, adapter_for
from .lazy_mentors import LazyMentors
from .mentor_cache import MentorCache, refuse_dense_outputs

ModelConfig = Union[str, dict]
PROJECT_ROOT = Path(__file__).resolve().parents[3]
AUTOCAST_DTYPES = {'bfloat16': torch.bfloat16, 'float16': torch.float16}


class ClassroomError(ValueError):
    """A classroom config that cannot train, found before training starts."""


class _Shared(list):
    """The frozen mentors. A deep copy has none: EMAHook's averaged copy only predicts, and
    moving it to another device or dtype (``EMAHook(device='cpu')``) must leave the mentors
    of the training model where they are."""

    def __deepcopy__(self, memo):
        return _Shared()


def load_config_file(config: str) -> Tuple[Config, Optional[str]]:
    """A config file or a scoped path ('mmpose::...'), with the registry scope it names."""
    path, scope = Config._get_cfg_path(config, '')  # mmengine's own `_base_` resolution
    if scope is None and not osp.isfile(path) and (PROJECT_ROOT / path).is_file():
        path = str(PROJECT_ROOT / path)  # the project's configs, from any working directory
    cfg = Config.fromfile(path)
    return cfg, scope or cfg.get('default_scope')


def load_model_config(config: ModelConfig) -> Tuple[ConfigDict, Optional[str]]:
    """The model section of a config file, a scoped path ('mmpose::...') or a model dict,
    with the registry scope to build it in."""
    if isinstance(config, dict):
        return ConfigDict(config), None
    cfg, scope = load_config_file(config)
    return cfg.model, scope


def build_model(config: ConfigDict, scope: Optional[str]) -> torch.nn.Module:
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(config)


@MODELS.register_module()
class ClassroomDistiller(BaseModel):
    """A student taught by a classroom of frozen mentors with ClassroomKD.

    `Classroom-Inspired Multi-Mentor Distillation with Adaptive Learning Strategies
    <https://arxiv.org/abs/2409.20237>`_ (Sarode et al.).

    Training runs the student and every mentor on each batch (with ``lazy_mentors``, the
    mentors that teach, and the others now and then) and minimises ``distill_loss``;
    prediction (val, test, inference) runs the student alone. Mentors are kept outside the
    module tree: always in eval mode, never in the optimizer, in DDP or in checkpoints. They
    are built when training starts (``build_mentors``), each loading its own checkpoint
    strictly, so that evaluation builds and downloads nothing of them.

    Args:
        student (str | dict): the student's model: a config file, a scoped config path
            (``'mmpretrain::resnet/resnet18_8xb16_cifar10.py'``) or a model dict.
        mentors (list[dict]): ``dict(name=..., config=..., checkpoint=...)`` per mentor,
            the teacher first; ``config`` as for ``student``, ``checkpoint`` a path or URL.
        distill_loss (dict): the ``ClassroomKDLoss`` config. Its ``task`` is taken from the
            student when left out.
        keypoint_sigmas (list[float], optional): pose OKS sigmas. Defaults to those of the
            training set's metainfo.
        mentor_autocast (str, optional): run the mentors under autocast in 'bfloat16' or
            'float16'. Defaults to None: the mentors run in the surrounding precision, under
            ``--amp`` in its autocast like the student. ``.half()``, ``.to(dtype)`` and
            ``.to(device)`` on the distiller convert and move the mentors too.
        mentor_channels_last (bool): run the mentors in channels_last memory format.
        mentor_compile (bool): run the mentors' inference through ``torch.compile``, on
            CUDA with CUDA graphs (the mentors' shapes are static). Defaults to False.
        lazy_mentors (int, optional): k >= 2: a mentor that did not teach on its last check
            runs only every k-th step, to be ranked again, and is skipped in between (ranked
            on its last performance, silent); it runs on every step again once a check ranks
            it at or above the student. Needs ClassroomKD with Knowledge Filtering and batch
            granularity. Defaults to None (every mentor runs on every step).
        mentor_cache (dict, optional): ``dict(dir=..., dtype='float32', topk=None,
            passes=None)``: the mentors' logits computed once and replayed
            (:class:`MentorCache`; classification, with the ``DeterministicViews`` dataset,
            the ``ViewSampler`` and ``MentorCacheHook``). Defaults to None (live teaching).
        data_preprocessor (dict, optional): replaces the student's data preprocessor.
        init_cfg (dict, optional): initialisation config of the student.
    """

    def __init__(self,
                 student: ModelConfig,
                 mentors: Sequence[dict],
                 distill_loss: Optional[dict] = None,
                 keypoint_sigmas: Optional[Sequence[float]] = None,
                 mentor_autocast: Optional[str] = None,
                 mentor_channels_last: bool = False,
                 mentor_compile: bool = False,
                 lazy_mentors: Optional[int] = None,
                 mentor_cache: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        distill_loss = dict(distill_loss or {})
        distill_loss.setdefault('type', 'ClassroomKDLoss')
        distill_loss.setdefault('task', None)
        self.distill_loss = MODELS.build(distill_loss)
        strategy = self.distill_loss.settings.strategy
        _check_mentor_list(mentors, strategy)
        _check_lazy_mentors(lazy_mentors, self.distill_loss.settings)
        if mentor_autocast not in (None, *AUTOCAST_DTYPES):
            raise ClassroomError(f'ClassroomDistiller: mentor_autocast={mentor_autocast!r} is '
                                 f'not one of None, {sorted(AUTOCAST_DTYPES)}')
        if not isinstance(mentor_compile, bool):
            raise ClassroomError(f'ClassroomDistiller: mentor_compile={mentor_compile!r}: give '
                                 'True or False (the compile mode follows the device)')

        student_cfg, scope = load_model_config(student)
        if data_preprocessor is not None:
            student_cfg['data_preprocessor'] = data_preprocessor
        self.student = build_model(student_cfg, scope)
        # mentors whose config names no scope are built where the student was
        current = DefaultScope.get_current_instance()
        student_scope = scope or (current.scope_name if current else None)
        self.data_preprocessor = self.student.data_preprocessor
        self.student_task = adapter_for(self.student, self.distill_loss, keypoint_sigmas)
        task = self.distill_loss.task
        if task is not None and task != self.student_task.rep.name:
            raise ClassroomError(f"ClassroomKDLoss: task='{task}' but the student's outputs are "
                                 f"'{self.student_task.rep.name}'")
        self.mentor_names = [m['name'] for m in mentors]
        self._mentor_configs = list(_taught_by(mentors, strategy))
        self._mentor_scope = student_scope
        self.mentors = _Shared()  # filled by build_mentors
        self.mentor_autocast = mentor_autocast
        self.mentor_channels_last = mentor_channels_last
        self.mentor_compile = mentor_compile
        self._mentor_passes = None
        self.lazy_mentors = LazyMentors(len(mentors), lazy_mentors) if lazy_mentors else None
        self.mentor_cache = _build_cache(mentor_cache, self.student_task.rep.name, lazy_mentors,
                                         self.data_preprocessor)
        self._stats: Dict[str, Tensor] = {}
        self._stats_count = 0

    def build_mentors(self) -> None:
        """Build every mentor and load its checkpoint, once.

        Training needs them from its first iteration: entering training mode (the training
        loops call ``model.train()`` before it), ``MentorCheckHook`` and ``teach`` (the
        first step of ``loss``) call this. Evaluation and inference never do. Every mentor
        is built and checked against the student before any checkpoint is fetched; they
        then follow the student's device and dtype.
        """
        if len(self.mentors) == len(self._mentor_configs) or \
                (self.mentor_cache is not None and self.mentor_cache.replays):
            return
        adapters = [self._build_mentor(mentor) for mentor in self._mentor_configs]
        like = next(self.student.parameters())
        for mentor, adapter in zip(self._mentor_configs, adapters):
            model = adapter.model
            load_mentor_checkpoint(model, mentor['checkpoint'], mentor['name'])
            model.requires_grad_(False).eval().to(like.device, like.dtype)
            if self.mentor_channels_last:
                model.to(memory_format=torch.channels_last)
        self.mentors.extend(adapters)

    def _build_mentor(self, mentor: dict) -> TaskAdapter:
        """A mentor's model with random weights, checked against the student."""
        name = mentor['name']
        config = mentor['config']
        try:  # a typo in a mentor's config path or model type must name the mentor
            file_cfg, scope = (None, None) if isinstance(config, dict) else \
                load_config_file(config)
            cfg = ConfigDict(config) if file_cfg is None else file_cfg.model
            model = build_model(cfg, scope or self._mentor_scope)
        except Exception as error:
            source = config if isinstance(config, str) else config.get('type')
            raise ClassroomError(f"mentor '{name}': cannot build its model from {source!r}: "
                                 f'{error}') from error
        try:
            adapter = adapter_for(model, self.distill_loss, config=file_cfg)
        except (TypeError, ValueError) as error:  # a model the classroom cannot drive
            raise ClassroomError(f"mentor '{name}': {error}") from None
        student_rep = self.student_task.rep
        if not student_rep.can_convert(adapter.rep):  # a mentor of another task
            raise ClassroomError(f"mentor '{name}': its {adapter.rep.name} outputs cannot be "
                                 f"converted into the student's {student_rep.name} outputs")
        signature = adapter.signature()
        for key, value in self.student_task.signature().items():
            theirs = signature.get(key, value)
            if theirs != value:
                raise ClassroomError(f"mentor '{name}': {_mismatch(key, theirs, value)}")
        return adapter

    def train(self, mode: bool = True):
        if mode:  # training starts (a DDP wrapper passes the call down to here)
            self.build_mentors()
        return super().train(mode)

    # Mentors are not submodules: move them with the distiller, keep them in eval mode.
    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for mentor in getattr(self, 'mentors', ()):
            mentor.model._apply(fn, *args, **kwargs)
        return self

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        return self.student(inputs, data_samples, mode=mode)

    @torch.no_grad()
    def teach(self, inputs: Tensor, run: Optional[Sequence[bool]] = None) -> List:
        """Every mentor's outputs on a batch (eval mode, no gradient); None for the mentors
        that ``run`` leaves out."""
        self.build_mentors()  # a model used without ``train()``
        if self.mentor_channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        run = run or [True] * len(self.mentors)
        # None leaves the surrounding autocast (--amp) on: enabled=False would switch it off
        with (torch.autocast(inputs.device.type, AUTOCAST_DTYPES[self.mentor_autocast])
              if self.mentor_autocast else contextlib.nullcontext()):
            return [mentor_pass(inputs) if runs else None
                    for mentor_pass, runs in zip(self.mentor_passes(inputs.device), run)]

    def mentor_passes(self, device: torch.device) -> List:
        """Each mentor's inference, compiled on first use with ``mentor_compile``."""
        if not self.mentor_compile:
            return [mentor.outputs for mentor in self.mentors]
        if self._mentor_passes is None or len(self._mentor_passes) != len(self.mentors):
            # compiled once the mentors are built (``build_mentors``), not before
            self._mentor_passes = [_compiled(mentor.outputs, device) for mentor in self.mentors]
        return self._mentor_passes

    def mentor_fingerprint(self) -> dict:
        """What decides the mentors' outputs on a given input (``mentor_cache`` keys on it)."""
        mentors = []
        for mentor in self._mentor_configs:
            config = mentor['config']
            model = config if isinstance(config, dict) else load_config_file(config)[0].model
            mentors.append(dict(name=mentor['name'], model=json.loads(
                json.dumps(dict(model), sort_keys=True, default=repr)),
                checkpoint=_file_hash(mentor['checkpoint'])))
        return dict(mentors=mentors, autocast=self.mentor_autocast,
                    channels_last=self.mentor_channels_last, compile=self.mentor_compile,
                    data_preprocessor=_module_settings(self.data_preprocessor))

    def loss(self, inputs: Tensor, data_samples: Sequence) -> Dict[str, Tensor]:
        lazy = self.lazy_mentors
        student_task = self.student_task
        targets = student_task.targets(data_samples)
        # Mentors first: between the student's forward and backward they would evict the
        # student's activations from the caches (17% slower steps on CPU, measured).
        if self.mentor_cache is None:
            mentor_outs = self.teach(inputs, lazy and lazy.select())
        else:
            mentor_outs = self.mentor_cache.outputs(data_samples, targets,
                                                    lambda: self.teach(inputs))
        student_out = student_task.outputs(inputs)

        def task_loss(sample_weight: Optional[Tensor]) -> Tensor:
            return student_task.task_loss(student_out, data_samples, sample_weight)

        # replayed mentors are not built: their outputs are the student's kind, logits
        reps = [m.rep for m in self.mentors] or [student_task.rep] * len(mentor_outs)
        result = self.distill_loss(
            student_out, mentor_outs, targets, task_loss, student_task.rep, reps,
            self.mentor_names[:len(mentor_outs)], lazy)
        losses = {key: value for key, value in result.items() if 'loss' in key}
        self._accumulate({key: value for key, value in result.items() if 'loss' not in key})
        return losses

    def _accumulate(self, stats: Dict[str, Tensor]) -> None:
        """Sum the classroom statistics on the device; ``pop_stats`` reads them."""
        for key, value in stats.items():
            value = value.detach().float()
            self._stats[key] = self._stats[key] + value if key in self._stats else value
        self._stats_count += 1

    def pop_stats(self) -> Dict[str, float]:
        """Means of the statistics since the last call (one device synchronisation);
        ``nonfinite_*`` are counts of batches. With lazy mentors, also the fraction of steps
        each mentor ran (``ran_*``) and of mentor passes skipped (``mentor_passes_saved``)."""
        stats = {}
        if self._stats:
            keys = list(self._stats)
            values = torch.stack([self._stats[k] for k in keys]).tolist()
            count, self._stats, self._stats_count = self._stats_count, {}, 0
            stats = {k: v if k.startswith('nonfinite_') else v / count
                     for k, v in zip(keys, values)}
        if self.lazy_mentors:
            stats.update(self.lazy_mentors.pop_counts(self.mentor_names))
        return stats


def _check_mentor_list(mentors: Sequence[dict], strategy: str) -> None:
    if not mentors and strategy != 'nokd':
        raise ClassroomError(f"ClassroomDistiller: the mentor list is empty; strategy "
                             f"'{strategy}' needs at least one mentor")
    seen = set()
    for i, mentor in enumerate(mentors):
        missing = [key for key in ('name', 'config', 'checkpoint') if not mentor.get(key)]
        if missing:
            raise ClassroomError(f'ClassroomDistiller: mentor #{i + 1} '
                                 f"({mentor.get('name', 'unnamed')}) lacks {missing}")
        unknown = set(mentor) - {'name', 'config', 'checkpoint'}
        name = mentor['name']
        if unknown:
            raise ClassroomError(f"mentor '{name}': unknown keys {sorted(unknown)}")
        if name in seen:
            raise ClassroomError(f"ClassroomDistiller: two mentors are named '{name}'")
        try:
            check_mentor_name(name)
        except ValueError as error:
            raise ClassroomError(str(error)) from None
        if 'loss' in name:
            raise ClassroomError(f"mentor '{name}': names must not contain 'loss' (logged "
                                 'statistics with that word would be summed into the loss)')
        seen.add(name)


def _check_lazy_mentors(check_every: Optional[int], settings) -> None:
    if check_every is None:
        return
    if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 2:
        raise ClassroomError(f'ClassroomDistiller: lazy_mentors={check_every!r}: give the '
                             'number of steps k >= 2 between two checks of a silent mentor, '
                             'or None')
    why = None
    if settings.strategy != 'classroom':
        why = (f"strategy '{settings.strategy}' takes every mentor it runs on every batch; "
               "only ClassroomKD's Knowledge Filtering silences mentors")
    elif not settings.knowledge_filtering:
        why = 'with knowledge_filtering=False every mentor teaches on every batch'
    elif settings.granularity == 'sample':
        why = ("granularity='sample' ranks the classroom on every sample: a mentor below the "
               'student on one sample may teach another, so none is silent for a whole batch')
    if why:
        raise ClassroomError(f'ClassroomDistiller: lazy_mentors cannot skip any mentor: {why}')


def _build_cache(cfg: Optional[dict], rep_name: str, lazy_mentors: Optional[int],
                 data_preprocessor) -> Optional[MentorCache]:
    if cfg is None:
        return None
    if rep_name != 'cls':
        raise ClassroomError(refuse_dense_outputs(rep_name))
    if lazy_mentors:
        raise ClassroomError('ClassroomDistiller: mentor_cache replays every mentor at no cost; '
                             'lazy_mentors has nothing to skip: leave it None')
    augments = getattr(data_preprocessor, 'batch_augments', None)
    if augments is not None:
        names = [type(a).__name__ for a in getattr(augments, 'augments', [augments])]
        raise ClassroomError(f'ClassroomDistiller: mentor_cache cannot key the batch augments '
                             f'{names} of the data preprocessor: they mix samples of a batch, '
                             "so a mixed image's mentor outputs depend on the batch")
    unknown = set(cfg) - {'dir', 'dtype', 'topk', 'passes'}
    if unknown:
        raise ClassroomError(f'ClassroomDistiller: mentor_cache has unknown keys '
                             f'{sorted(unknown)}; it takes dir, dtype, topk and passes')
    try:
        return MentorCache(**cfg)
    except (TypeError, ValueError) as error:
        raise ClassroomError(str(error)) from None


def _module_settings(module: torch.nn.Module) -> dict:
    """A data preprocessor's type, plain attributes and buffers (mean, std)."""
    plain = {k: v for k, v in vars(module).items()
             if isinstance(v, (bool, int, float, str)) and k != 'training'}
    buffers = {k: v.tolist() for k, v in module.state_dict().items()}
    return dict(type=type(module).__name__, **plain, buffers=buffers)


def _file_hash(path: str) -> str:
    """SHA-256 of a local checkpoint; a URL stands for itself."""
    if not osp.isfile(path):
        return path
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return f'sha256:{digest.hexdigest()}'


def _compiled(mentor_pass, device: torch.device):
    """``torch.compile`` of a mentor's inference pass for ``mentor_compile``."""
    # The mentors are frozen: freezing folds BatchNorm into the convolutions and prepacks
    # their weights. CUDA graphs replay a pass in one launch; each call of a compiled pass
    # starts a new graph generation, which reuses the previous outputs' memory, so those
    # are copied out.
    cudagraphs = device.type == 'cuda'
    compiled = torch.compile(mentor_pass, dynamic=False,
                             options={'freezing': True, 'triton.cudagraphs': cudagraphs})
    if not cudagraphs:
        return compiled

    def mentor_pass_out_of_graph(inputs: Tensor):
        out = compiled(inputs)
        return tuple(p.clone() for p in out) if isinstance(out, tuple) else out.clone()

    return mentor_pass_out_of_graph


def _mismatch(key: str, theirs, ours) -> str:
    """What differs between a mentor's and the student's ``key``, in words; for lists of
    names, the first that differs."""
    if isinstance(ours, tuple) and isinstance(theirs, tuple) and len(ours) == len(theirs) \
            and all(isinstance(name, str) for name in ours + theirs):
        i = next(i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b)
        return f"its {key} differ from the student's: #{i} is {theirs[i]!r}, not {ours[i]!r}"
    return f"its {key} is {theirs}, the student's is {ours}"


def _taught_by(mentors: Sequence[dict], strategy: str) -> Sequence[dict]:
    """The mentors a strategy runs: none without KD, the teacher alone for Hinton KD."""
    return {'nokd': mentors[:0], 'kd': mentors[:1]}.get(strategy, mentors)
