from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class ClassroomHook(Hook):
    """Logs the classroom: r_s and every mentor's rank, temperature and active fraction.

    The distiller sums these on the device; this hook reads them once per logging interval
    (so no training step waits for the device) and hands the interval means to the
    MessageHub under ``train/classroom/``, where the text log, ``vis_data/scalars.json``
    and TensorBoard pick them up. It warns once per mentor whose outputs held NaN or inf (it
    sat those batches out).

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
            runner.message_hub.update_scalar(f'train/classroom/{key}', value)
            name = key[len('nonfinite_'):]
            if key.startswith('nonfinite_') and value > 0 and name not in self._warned:
                self._warned.add(name)
                print_log(f"mentor '{name}' produced NaN or inf outputs; it sits out such "
                          'batches (counted in classroom/nonfinite_*)', logger='current',
                          level=30)
