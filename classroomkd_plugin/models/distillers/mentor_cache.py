import json
import os
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

STORAGE_DTYPES = {'float32': np.float32, 'float16': np.float16}
FLUSH_EVERY = 8192  # entries buffered before a shard is written
VIEWS_IN_MEMORY = 2  # a batch of an iteration-based run may straddle two passes
META = 'meta.json'


class MentorCacheError(ValueError):
    """A mentor cache that cannot serve this run, found before training starts (or, for an
    entry gone missing during it, at the batch)."""


def refuse_dense_outputs(rep_name: str) -> str:
    """Why a pose student's mentor outputs are not cached, with the storage arithmetic."""
    heatmap = 17 * 64 * 48 * 2  # a COCO heatmap at 256x192 in float16
    simcc = 17 * (384 + 512) * 2  # SimCC at 256x192, split ratio 2, float16
    coco = 149813  # person instances of COCO train2017
    return (f"mentor_cache stores classification logits; the student's outputs are "
            f"'{rep_name}'. Per sample, per mentor, per augmentation pass a 17x64x48 float16 "
            f'heatmap takes {heatmap / 1e3:.0f} KB ({heatmap * coco / 1e9:.0f} GB a mentor a '
            f'pass on COCO train) and SimCC vectors {simcc / 1e3:.0f} KB '
            f'({simcc * coco / 1e9:.1f} GB): more to read back than a mentor pass costs. '
            'Use lazy_mentors or mentor_autocast for pose classrooms.')


def entry_bytes(num_mentors: int, num_classes: int, dtype: str, topk: Optional[int]) -> int:
    """Bytes one sample's view takes, all mentors: K·C·b for full logits, K·((k+1)·(b+2)+b)
    for the top k (k+1 logits with their int16 classes, and the mean of the others)."""
    size = np.dtype(STORAGE_DTYPES[dtype]).itemsize
    if topk is None:
        return num_mentors * num_classes * size
    return num_mentors * ((topk + 1) * (size + 2) + size)


def encode(logits: Tensor, labels: Tensor, dtype: str,
           topk: Optional[int]) -> Dict[str, np.ndarray]:
    """[B, K, C] mentor logits as stored. With ``topk=k``: the k largest logits and the
    label's (the (k+1)-th largest where the label is among the k), their classes, and the mean
    of the other logits, which stands in for each of them when the logits are rebuilt."""
    store = STORAGE_DTYPES[dtype]
    logits = logits.float()
    if topk is None:
        return dict(logits=logits.cpu().numpy().astype(store))
    num_classes = logits.size(-1)
    values, classes = logits.topk(min(topk + 1, num_classes), dim=-1)
    label = labels.view(-1, 1, 1).expand(-1, logits.size(1), 1)
    missing = ~(classes[..., :topk] == label).any(-1)  # the label is not among the k
    classes[..., topk:][missing] = label[missing]
    values = logits.gather(-1, classes)
    others = num_classes - classes.size(-1)
    rest = (logits.sum(-1) - values.sum(-1)) / max(others, 1)
    return dict(values=values.cpu().numpy().astype(store),
                classes=classes.cpu().numpy().astype(np.int16),
                rest=rest.cpu().numpy().astype(store))


def decode(arrays: Dict[str, np.ndarray], num_classes: int) -> Tensor:
    """Stored entries back to [B, K, C] float32 logits."""
    if 'logits' in arrays:
        return torch.from_numpy(arrays['logits']).float()
    rest = torch.from_numpy(arrays['rest']).float()
    full = rest.unsqueeze(-1).expand(*rest.shape, num_classes).clone()
    return full.scatter_(-1, torch.from_numpy(arrays['classes']).long(),
                         torch.from_numpy(arrays['values']).float())


class MentorCache:
    """Mentor outputs computed once and replayed: ``ClassroomDistiller(mentor_cache=...)``.

    Entries are keyed by (view, sample index), the key :class:`DeterministicViews` puts in
    each data sample, so a stored output is the mentor's output on the very view the student
    sees. ``MentorCacheHook`` opens the cache before training: a cache that holds every view
    the run needs *replays* (the mentors are never built); otherwise the run *fills* it: on a
    batch with an entry missing the mentors run and what they output is stored, and taught as
    stored (so float16 and top-k teach as they will replay); a batch whose entries are all
    stored is replayed (a cache left partial by an interrupted run resumes filling; with
    ``passes=E`` the mentors run in the first E passes only). Shards are written to a
    temporary name and renamed, so that ranks or jobs filling at once, or a run killed
    mid-write, never leave a torn file.

    Layout of ``dir``: ``meta.json`` (the fingerprint, the layout, the mentor check recorded
    when filling) and ``view_<v>/<shard>.npz`` with ``index`` [n] and the entries (``encode``).

    Args:
        dir (str): the cache's folder.
        dtype (str): 'float32' (replay equals live bit for bit) or 'float16'.
        topk (int, optional): store the k largest logits and the label's, see ``encode``.
            Defaults to None (all logits).
        passes (int, optional): E: store E augmentation passes and cycle them (view = pass
            mod E), so that the storage stops growing with the epochs. Defaults to None
            (every pass its own views).
    """

    def __init__(self, dir: str, dtype: str = 'float32', topk: Optional[int] = None,
                 passes: Optional[int] = None):
        if not dir:
            raise MentorCacheError('mentor_cache: give dir=<folder>')
        if dtype not in STORAGE_DTYPES:
            raise MentorCacheError(f'mentor_cache: dtype={dtype!r} is not one of '
                                   f'{sorted(STORAGE_DTYPES)}')
        for key, value in (('topk', topk), ('passes', passes)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise MentorCacheError(f'mentor_cache: {key}={value!r}: give an integer >= 1 '
                                       'or None')
        self.dir = Path(dir)
        self.dtype, self.topk, self.passes = dtype, topk, passes
        self.replays: Optional[bool] = None  # None until ``open``
        self.meta: dict = {}
        self._filled: Dict[int, np.ndarray] = {}  # view -> [N] bool, entries on disk or buffered
        self._views: 'OrderedDict[int, Dict[str, np.ndarray]]' = OrderedDict()
        self._buffer: Dict[int, List[tuple]] = {}
        self._buffered = 0

    @property
    def layout(self) -> dict:
        return dict(dtype=self.dtype, topk=self.topk, passes=self.passes)

    def open(self, fingerprint: dict, num_samples: int, num_classes: int,
             mentor_names: Sequence[str], needed: Dict[int, Optional[np.ndarray]],
             log: Callable[[str], None] = print) -> None:
        """Check the fingerprint, scan what is stored, decide to replay or fill.

        ``needed``: the entries the run draws, {view: sample indices, or None for all}."""
        meta_path = self.dir / META
        meta = dict(fingerprint=fingerprint, layout=self.layout, num_samples=num_samples,
                    num_classes=num_classes, mentors=list(mentor_names))
        if meta_path.is_file():
            stored = json.loads(meta_path.read_text())
            _compare(self.dir, stored, meta)
            meta['mentor_check'] = stored.get('mentor_check')
        else:
            self.dir.mkdir(parents=True, exist_ok=True)
            _write_json(meta_path, meta)
        self.meta, self.num_samples, self.num_classes = meta, num_samples, num_classes
        self.num_mentors = len(mentor_names)
        self._filled = {view: self._scan(view) for view in needed}
        wanted = {view: np.arange(num_samples) if index is None else index
                  for view, index in needed.items()}
        present = sum(int(self._filled[view][index].sum()) for view, index in wanted.items())
        total = sum(len(index) for index in wanted.values())
        self.replays = present == total
        size = total * entry_bytes(self.num_mentors, num_classes, self.dtype, self.topk)
        what = 'replays it, no mentor runs' if self.replays else \
            ('fills it while the mentors teach' if present == 0 else
             f'resumes filling it ({present}/{total} entries there)')
        log(f'mentor_cache {self.dir}: {len(needed)} view(s), {total} entries of '
            f'{self.num_mentors} mentors, {self.dtype}'
            f'{f", top-{self.topk}" if self.topk else ""}: {size / 2**20:.1f} MiB; this run '
            f'{what}')

    def _scan(self, view: int) -> np.ndarray:
        filled = np.zeros(self.num_samples, dtype=bool)
        folder = self.dir / f'view_{view:05d}'
        for shard in sorted(folder.glob('*.npz')) if folder.is_dir() else ():
            with np.load(shard) as data:
                filled[data['index']] = True
        return filled

    def outputs(self, data_samples: Sequence, labels: Tensor,
                teach: Callable[[], List[Tensor]]) -> List[Tensor]:
        """Every mentor's [B, C] logits on the batch: replayed, or ``teach()``-ed and stored."""
        if self.replays is None:
            raise MentorCacheError('mentor_cache: not opened; the config needs '
                                   "custom_hooks=[dict(type='MentorCacheHook'), ...]")
        try:
            views = np.array([s.metainfo['view'] for s in data_samples])
            index = np.array([s.metainfo['sample_idx'] for s in data_samples])
        except KeyError:
            raise MentorCacheError(
                "mentor_cache: the data samples carry no 'view': the training dataset must be "
                "dict(type='DeterministicViews', dataset=...) sampled by "
                "dict(type='ViewSampler', sampler=...)") from None
        fresh = ~np.array([self._filled[v][i] for v, i in zip(views, index)])
        if self.replays or not fresh.any():  # a filling run replays what it has stored
            if any(int(view) in self._buffer for view in views):
                self.flush()
            return self._replay(views, index, labels.device)
        entries = encode(torch.stack([o.detach() for o in teach()], dim=1), labels, self.dtype,
                         self.topk)
        for view in np.unique(views[fresh]):
            rows = np.flatnonzero(fresh & (views == view))
            self._buffer.setdefault(int(view), []).append(
                (index[rows], {k: v[rows] for k, v in entries.items()}))
            self._filled[int(view)][index[rows]] = True
        self._buffered += int(fresh.sum())
        if self._buffered >= FLUSH_EVERY:
            self.flush()
        # as stored: a filling run teaches what the runs replaying it will (float16, top-k)
        return _per_mentor(decode(entries, self.num_classes), labels.device)

    def _replay(self, views: np.ndarray, index: np.ndarray, device) -> List[Tensor]:
        rows = {}
        for view in np.unique(views):
            where = np.flatnonzero(views == view)
            stored = self._load(int(view))
            missing = ~stored['filled'][index[where]]
            if missing.any():
                raise MentorCacheError(
                    f'mentor_cache {self.dir}: no entry for pass (view) {int(view)}, sample '
                    f'index {int(index[where][missing][0])}; the cache was changed after this '
                    'run opened it')
            rows[int(view)] = (where, {k: v[index[where]] for k, v in stored.items()
                                       if k != 'filled'})
        parts = {key: np.concatenate([r[1][key] for r in rows.values()])
                 for key in next(iter(rows.values()))[1]}
        order = np.argsort(np.concatenate([r[0] for r in rows.values()]), kind='stable')
        return _per_mentor(decode({k: v[order] for k, v in parts.items()}, self.num_classes),
                           device)

    def _load(self, view: int) -> Dict[str, np.ndarray]:
        if view in self._views:
            self._views.move_to_end(view)
            return self._views[view]
        stored: Dict[str, np.ndarray] = {'filled': np.zeros(self.num_samples, dtype=bool)}
        folder = self.dir / f'view_{view:05d}'
        for shard in sorted(folder.glob('*.npz')) if folder.is_dir() else ():
            with np.load(shard) as data:
                index = data['index']
                for key in data.files:
                    if key == 'index':
                        continue
                    if key not in stored:
                        stored[key] = np.zeros((self.num_samples, *data[key].shape[1:]),
                                               data[key].dtype)
                    stored[key][index] = data[key]
                stored['filled'][index] = True
        self._views[view] = stored
        while len(self._views) > VIEWS_IN_MEMORY:
            self._views.popitem(last=False)
        return stored

    def flush(self) -> None:
        """Write the buffered entries, one shard per view (temporary name, then renamed)."""
        for view, chunks in self._buffer.items():
            folder = self.dir / f'view_{view:05d}'
            folder.mkdir(parents=True, exist_ok=True)
            arrays = {key: np.concatenate([c[1][key] for c in chunks]) for key in chunks[0][1]}
            arrays['index'] = np.concatenate([c[0] for c in chunks])
            name = f'{os.getpid()}-{uuid.uuid4().hex[:12]}'
            tmp = folder / f'.{name}.tmp.npz'
            np.savez(tmp, **arrays)
            os.replace(tmp, folder / f'{name}.npz')
            self._views.pop(view, None)  # read again with the new shard
        self._buffer, self._buffered = {}, 0

    def record_check(self, scores: List[dict]) -> None:
        """Keep the mentor check of the filling run, for the runs that replay."""
        self.meta['mentor_check'] = scores
        _write_json(self.dir / META, self.meta)


def _per_mentor(logits: Tensor, device) -> List[Tensor]:
    """[B, K, C] to K contiguous [B, C] tensors, as the mentors' live passes give them."""
    return list(logits.transpose(0, 1).contiguous().to(device).unbind(0))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f'.{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}')
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _compare(folder: Path, stored: dict, ours: dict) -> None:
    """Stop, saying what differs, when the cache was filled for other mentors or views."""
    differ = []
    for section in ('fingerprint', 'layout'):
        theirs, mine = stored.get(section, {}), ours[section]
        for key in sorted(set(theirs) | set(mine)):
            if theirs.get(key) != mine.get(key):
                differ.append(f'{key}: the cache has {_short(theirs.get(key))}, this run '
                              f'{_short(mine.get(key))}')
    for key in ('num_samples', 'num_classes', 'mentors'):
        if stored.get(key) != ours[key]:
            differ.append(f'{key}: the cache has {stored.get(key)}, this run {ours[key]}')
    if differ:
        raise MentorCacheError(f'mentor_cache {folder} was filled for another classroom; give '
                               'another dir or delete it. What differs:\n  ' +
                               '\n  '.join(differ))


def _short(value, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= limit else text[:limit] + '...'
