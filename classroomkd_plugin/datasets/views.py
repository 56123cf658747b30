"""Deterministic augmented views: a training sample's view is a pure function of (seed, pass,
index), whatever the number of workers, ranks or the batch size. ``mentor_cache`` needs it: a
stored mentor output is right only for the very view the student sees (Beyer et al., CVPR 2022).
"""
import copy
import itertools
import json
import random
from typing import Dict, Iterator, NamedTuple, Optional, Sized

import numpy as np
import torch
from mmengine.dataset import DefaultSampler, InfiniteSampler
from mmengine.registry import DATA_SAMPLERS, DATASETS
from torch.utils.data import Dataset, Sampler

# random generators a transform may keep for itself: reseeding the global ones cannot reach them
PRIVATE_RNGS = (np.random.RandomState, np.random.Generator, random.Random, torch.Generator)


class ViewKey(NamedTuple):
    """Which view of which sample: what ``ViewSampler`` yields to ``DeterministicViews``."""
    seed: int
    view: int  # the augmentation pass, after cycling (``ViewSampler.cycle``)
    index: int


def view_seed(seed: int, view: int, index: int) -> int:
    """The 32-bit seed of one sample's view."""
    return int(np.random.SeedSequence([seed, view, index]).generate_state(1)[0])


def private_rngs(transform, path: str = '') -> list:
    """Names of the transforms in ``transform`` (a pipeline, or nested in one) that hold a
    random generator of their own."""
    found = []
    name = path or type(transform).__name__
    for attr, value in vars(transform).items() if hasattr(transform, '__dict__') else ():
        if isinstance(value, PRIVATE_RNGS):
            found.append(f'{name}.{attr} ({type(value).__name__})')
        elif isinstance(value, (list, tuple)):
            for i, child in enumerate(value):
                if hasattr(child, '__call__') and hasattr(child, '__dict__'):
                    found += private_rngs(child, f'{name}.{attr}[{i}]:{type(child).__name__}')
    return found


@DATASETS.register_module()
class DeterministicViews(Dataset):
    """A training dataset whose random transforms draw, for each sample, from generators seeded
    by (seed, pass, index): Python's ``random``, NumPy's global generator and PyTorch's CPU
    generator are seeded before the pipeline runs and restored after it, so the rest of the
    process (dropout, the next sample) draws as if the pipeline had not run. MMCV, MMPretrain
    and MMPose transforms draw from these three; a transform that holds a generator of its own
    is refused by name when the dataset is built.

    The keys come from :class:`ViewSampler`; an integer key gives the plain dataset's sample
    (the global generators, not reseeded), as browsing tools expect. The packed data sample
    carries ``view`` and ``sample_idx`` in its metainfo (``mentor_cache`` keys on them).

    Args:
        dataset (dict | Dataset): the training dataset.
    """

    def __init__(self, dataset):
        self.dataset_cfg = copy.deepcopy(dataset) if isinstance(dataset, dict) else None
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        pipeline = getattr(self.dataset, 'pipeline', None)
        found = private_rngs(pipeline) if pipeline is not None else []
        if found:
            raise ValueError('DeterministicViews: these transforms draw from a random generator '
                             f'of their own, which per-sample seeding cannot reach: {found}')

    @property
    def metainfo(self) -> dict:
        return self.dataset.metainfo

    @property
    def pipeline(self):
        return self.dataset.pipeline

    def full_init(self) -> None:
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            return self.dataset[key]
        key = ViewKey(*key)
        states = random.getstate(), np.random.get_state(), torch.get_rng_state()
        seed = view_seed(*key)
        random.seed(seed)
        np.random.seed(seed)
        torch.default_generator.manual_seed(seed)  # the CPU one: CUDA's is the model's
        try:
            data = self.dataset[key.index]
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])
        data['data_samples'].set_metainfo(dict(view=key.view, sample_idx=key.index))
        return data

    def fingerprint(self) -> str:
        """What decides the views, besides the seed: the dataset and its pipeline."""
        if self.dataset_cfg is not None:
            cfg = {k: v for k, v in self.dataset_cfg.items() if k not in ('lazy_init', )}
            return json.dumps(cfg, sort_keys=True, default=repr)
        return f'{type(self.dataset).__name__}({len(self)}): {self.dataset.pipeline!r}'


@DATA_SAMPLERS.register_module()
class ViewSampler(Sampler):
    """Wraps a training sampler (``DefaultSampler`` or ``InfiniteSampler``) and yields, for
    each index it draws, ``ViewKey(seed, view, index)``: the pass over the data that the index
    belongs to, kept in this process (the main one), so that it reaches persistent workers.

    ``DefaultSampler``: the pass is the epoch (``set_epoch``, which the epoch- and
    iteration-based loops call, on resume too). ``InfiniteSampler``: the pass is the position
    of the index in the sampler's global stream, divided by the dataset's size (the
    iteration-based loop replays the stream on resume). ``cycle = E`` (set by ``mentor_cache``'s
    ``passes``) maps pass p to view p mod E.

    Args:
        sampler (dict): the wrapped sampler's config.
        dataset: the training dataset, a :class:`DeterministicViews` (set by the Runner).
        seed (int, optional): the views' seed; defaults to the wrapped sampler's (the Runner's
            ``randomness.seed``).
    """

    def __init__(self, sampler: dict, dataset: Sized, seed: Optional[int] = None):
        if not isinstance(dataset, DeterministicViews):
            raise TypeError(f'ViewSampler: the training dataset is a {type(dataset).__name__}; '
                            "wrap it: dataset=dict(type='DeterministicViews', dataset=...)")
        self.sampler_cfg, self.dataset = sampler, dataset
        self.sampler = DATA_SAMPLERS.build(sampler, default_args=dict(dataset=dataset,
                                                                      seed=seed))
        if not isinstance(self.sampler, (DefaultSampler, InfiniteSampler)):
            raise TypeError(f'ViewSampler: wraps DefaultSampler or InfiniteSampler, not '
                            f'{type(self.sampler).__name__}')
        self.seed = self.sampler.seed if seed is None else seed
        self.size = len(dataset)
        self.epoch = 0
        self.drawn = 0  # InfiniteSampler: indices this rank has drawn
        self.cycle: Optional[int] = None

    def _view(self, passed: int) -> int:
        return passed % self.cycle if self.cycle else passed

    def __iter__(self) -> Iterator[ViewKey]:
        sampler = self.sampler
        if isinstance(sampler, DefaultSampler):
            view = self._view(self.epoch)
            for index in sampler:
                yield ViewKey(self.seed, view, index)
            return
        for index in sampler:
            position = sampler.rank + sampler.world_size * self.drawn
            self.drawn += 1
            yield ViewKey(self.seed, self._view(position // self.size), index)

    def __len__(self) -> int:
        return len(self.sampler)

    def plan(self, draws: int) -> Dict[int, Optional[np.ndarray]]:
        """The entries this rank's first ``draws`` draws need, {view: sample indices, or None
        for all}: a pass drawn completely (by all ranks) needs every index; only a pass drawn
        in part is enumerated, without moving this sampler."""
        if isinstance(self.sampler, DefaultSampler):
            complete, rest = divmod(draws, len(self.sampler))
            partial = None
            if rest:
                epoch = self.epoch
                self.sampler.set_epoch(complete)
                partial = np.fromiter(self.sampler, dtype=np.int64)[:rest]
                self.sampler.set_epoch(epoch)
        else:
            sampler = self.sampler
            stream = sampler.world_size * draws
            complete = stream // self.size
            partial = None
            if stream % self.size:  # this rank's draws in the last pass, from a fresh stream
                fresh = DATA_SAMPLERS.build(self.sampler_cfg, default_args=dict(
                    dataset=self.dataset, seed=self.seed))
                start = -(-(complete * self.size - sampler.rank) // sampler.world_size)
                drawn = itertools.islice(fresh, max(start, 0), draws)
                partial = np.fromiter(drawn, dtype=np.int64)
        needed: Dict[int, Optional[np.ndarray]] = {}
        for passed in range(complete):
            needed[self._view(passed)] = None
        if partial is not None:
            view = self._view(complete)
            if view not in needed:
                needed[view] = partial
            elif needed[view] is not None:
                needed[view] = np.union1d(needed[view], partial)
        return needed

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.sampler.set_epoch(epoch)
