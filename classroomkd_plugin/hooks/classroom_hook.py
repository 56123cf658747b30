import logging
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ClassroomHook(Hook):
    """Logs the classroom: r_s, the task weight w_s, and every mentor's rank, temperature (and
    the student's in its term, ``ts_<name>``) and active fraction
    (with lazy mentors, also the fraction of steps each mentor ran, ``ran_<name>``, and of
    mentor passes skipped, ``mentor_passes_saved``).

    The distiller sums these on the device; this hook reads them once per logging interval
    (so no training step waits for the device) and hands the interval means to the
    MessageHub under ``train/classroom/``, where the text log, ``vis_data/scalars.json``
    and TensorBoard pick them up. A mentor whose outputs held NaN or inf sat those batches
    out: their count is logged as ``classroom/nonfinite_<name>`` (from the first such batch on)
    and warned about once.

    Args:
        interval (int, optional): logging interval in iterations; defaults to the
            LoggerHook's.
    """

    priority = 'NORMAL'  # before the LoggerHook (BELOW_NORMAL) writes the log

    def __init__(self, interval: Optional[int] = None):
        self.interval = interval
        self._warned = set()

    def before_train(self, runner) -> None:
        if self.interval is None:
            loggers = [h for h in runner.hooks if type(h).__name__ == 'LoggerHook']
            self.interval = loggers[0].interval if loggers else 10

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not (self.every_n_train_iters(runner, self.interval)
                or self.every_n_inner_iters(batch_idx, self.interval)
                or self.end_of_epoch(runner.train_dataloader, batch_idx)):
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for key, value in model.pop_stats().items():
            if key.startswith('nonfinite_'):  # batches the mentor sat out
                mentor = key[len('nonfinite_'):]
                if value > 0:
                    self._warn_once(mentor)
                elif mentor not in self._warned:
                    # nothing to report yet; once reported, zeros are logged too, or the log
                    # would repeat the last count (it shows a scalar's latest value)
                    continue
            runner.message_hub.update_scalar(f'train/classroom/{key}', value)

    def _warn_once(self, mentor: str) -> None:
        if mentor not in self._warned:
            self._warned.add(mentor)
            print_log(f"mentor '{mentor}' produced NaN or inf outputs; it sits out those "
                      f'batches (counted in classroom/nonfinite_{mentor})', logger='current',
                      level=logging.WARNING)
