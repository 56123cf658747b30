from mmengine.dataset import InfiniteSampler
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from classroomkd_plugin.datasets.views import ViewSampler
from classroomkd_plugin.models.distillers.mentor_cache import MentorCacheError


@HOOKS.register_module()
class MentorCacheHook(Hook):
    """Opens the distiller's ``mentor_cache`` before training (and before ``MentorCheckHook``):
    hands it the fingerprint of what decides the mentors' outputs (the mentors, the views'
    dataset, pipeline and seed, the input dtype, AMP) and the entries this run draws,
    and sets the ``ViewSampler``'s cycle to the cache's ``passes``. Writes what is buffered
    before each checkpoint and at the end. Does nothing for a distiller without a cache, so
    that the shipped classification configs carry it and ``--cfg-options
    model.mentor_cache.dir=PATH`` is all a user adds.
    """

    priority = 'ABOVE_NORMAL'

    def before_train(self, runner) -> None:
        model = _distiller(runner)
        cache = getattr(model, 'mentor_cache', None)
        if cache is None:
            return
        loader = runner.train_dataloader
        sampler = loader.sampler
        if not isinstance(sampler, ViewSampler):
            raise MentorCacheError(
                f'mentor_cache: the training sampler is a {type(sampler).__name__}; a cached '
                'output must belong to the view the student sees: train_dataloader needs '
                "sampler=dict(type='ViewSampler', sampler=...) and "
                "dataset=dict(type='DeterministicViews', dataset=...)")
        sampler.cycle = cache.passes
        fingerprint = dict(model.mentor_fingerprint(), views=loader.dataset.fingerprint(),
                           seed=sampler.seed, amp='Amp' in type(runner.optim_wrapper).__name__,
                           input_dtype=str(next(model.student.parameters()).dtype))
        cache.open(fingerprint, len(loader.dataset), _num_classes(model),
                   model.mentor_names[:len(model._mentor_configs)],
                   sampler.plan(_draws(runner)),
                   log=lambda line: print_log(line, logger='current'))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        self._flush(runner)

    def after_train(self, runner) -> None:
        self._flush(runner)

    @staticmethod
    def _flush(runner) -> None:
        cache = getattr(_distiller(runner), 'mentor_cache', None)
        if cache is not None and cache.replays is False:
            cache.flush()


def _distiller(runner):
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


def _num_classes(model) -> int:
    classes = model.student_task.signature().get('number of classes')
    if classes is None:
        raise MentorCacheError("mentor_cache: the student's head names no number of classes")
    return classes


def _draws(runner) -> int:
    """Samples this rank draws over the run, from its first iteration."""
    loop, loader = runner.train_loop, runner.train_dataloader
    if isinstance(loop, EpochBasedTrainLoop):  # not max_epochs: the iteration loop's is 1
        return loop.max_epochs * len(loader.sampler)
    if isinstance(loader.sampler.sampler, InfiniteSampler):
        return loop.max_iters * loader.batch_size
    epochs, batches = divmod(loop.max_iters, len(loader))  # a pass ends in a short batch
    return epochs * len(loader.sampler) + min(batches * loader.batch_size, len(loader.sampler))
