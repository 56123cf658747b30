from .classroom_hook import ClassroomHook
from .mentor_check_hook import MentorCheckHook
from .score_snapshot_hook import ScoreSnapshotHook

__all__ = ['ClassroomHook', 'MentorCheckHook', 'ScoreSnapshotHook']
