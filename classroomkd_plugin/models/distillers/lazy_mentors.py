from collections import deque
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from classroomkd_plugin.core import Plan

# host copies of the activity flags that may be in flight at once; beyond that a step's copy
# is dropped (the host is that far ahead of the device)
IN_FLIGHT = 4


class LazyMentors:
    """Which mentors run on each training step: ``ClassroomDistiller(lazy_mentors=k)``.

    A step on which a mentor runs is a check of that mentor. A mentor that did not teach on
    its last check (Knowledge Filtering ranked it below the student, or its outputs were not
    finite) runs again ``k`` steps after that check, to be ranked again, and is skipped in
    between; as soon as a check ranks it at or above the student it runs on every step again.
    Every mentor runs until its first check is known.

    The activity flags of a step reach the host without blocking: a non-blocking copy into
    host memory (pinned, with an event, on an accelerator) that is read only once the event
    says it has landed, normally at the next step. A copy still in flight is read at a later
    step; the decision then uses the older flags (the mentor keeps running, or stays skipped
    one step longer), so the training step never waits for the device.

    The schedule also keeps, on the device, every model's performance w of the last step
    (``previous``): the objective ranks a skipped mentor on it, and a skipped mentor cannot
    teach. This state is not saved in checkpoints; a resumed run starts a fresh schedule.

    Args:
        num_mentors (int): K.
        check_every (int): k, in steps.
    """

    def __init__(self, num_mentors: int, check_every: int):
        self.num_mentors = num_mentors
        self.check_every = check_every
        self.step = 0
        self.last_run = [0] * num_mentors
        self.silent = [False] * num_mentors  # on its last check whose flags have landed
        self.previous: Optional[Tensor] = None
        self._run = [True] * num_mentors
        self._device: Optional[torch.device] = None
        self._free: List[tuple] = []
        self._in_flight = deque()
        self._runs, self._steps = [0] * num_mentors, 0

    def __deepcopy__(self, memo):  # a copy (EMAHook's) starts its own schedule
        return LazyMentors(self.num_mentors, self.check_every)

    def select(self) -> List[bool]:
        """Which mentors run on this step."""
        self._collect()
        step = self.step
        self._run = [not silent or step - last >= self.check_every
                     for silent, last in zip(self.silent, self.last_run)]
        for k, run in enumerate(self._run):
            if run:
                self.last_run[k] = step
                self._runs[k] += 1
        self.step += 1
        self._steps += 1
        return list(self._run)

    def last_performance(self, device: torch.device) -> Tensor:
        """[1 + K, 1] every model's w on the last step (zeros before the first)."""
        if self.previous is None or self.previous.device != device:
            self.previous = torch.zeros(self.num_mentors + 1, 1, device=device)
        return self.previous

    def observe(self, plan: Plan) -> None:
        """After the objective: keep the step's performances and start copying who taught
        to the host."""
        self.previous = plan.performance
        active = plan.active[:, 0]  # batch granularity: one flag per mentor
        if active.device != self._device:
            self._device, self._free, self._in_flight = active.device, [], deque()
        if not self._free:
            if len(self._in_flight) >= IN_FLIGHT:
                return
            self._free.append(self._buffer(active.device))
        buffer = self._free.pop()
        host, _, event = buffer
        host.copy_(active, non_blocking=True)
        if event is not None:
            event.record()
        self._in_flight.append((self._run, buffer))

    def _buffer(self, device: torch.device) -> tuple:
        """A host tensor, a numpy view of it (read without calling a tensor method) and the
        event that says when a copy into it has landed."""
        if device.type == 'cpu':  # the copy is done when copy_ returns
            view = np.zeros(self.num_mentors, dtype=bool)
            return torch.from_numpy(view), view, None
        host = torch.empty(self.num_mentors, dtype=torch.bool, pin_memory=True)
        return host, host.numpy(), torch.Event(device=device)

    def _collect(self) -> None:
        """Read the copies that have landed, oldest first; never wait for one."""
        while self._in_flight:
            run, buffer = self._in_flight[0]
            _, view, event = buffer
            if event is not None and not event.query():
                break
            self._in_flight.popleft()
            for k, ran in enumerate(run):
                if ran:
                    self.silent[k] = not view[k]
            self._free.append(buffer)

    def pop_counts(self, names: Sequence[str]) -> Dict[str, float]:
        """Since the last call: the fraction of steps each mentor ran (``ran_<name>``) and
        the fraction of mentor passes skipped (``mentor_passes_saved``)."""
        if not self._steps:
            return {}
        stats = {f'ran_{name}': runs / self._steps for name, runs in zip(names, self._runs)}
        stats['mentor_passes_saved'] = 1 - sum(self._runs) / (self._steps * self.num_mentors)
        self._runs, self._steps = [0] * self.num_mentors, 0
        return stats
