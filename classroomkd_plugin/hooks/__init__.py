from .classroom_hook import ClassroomHook
from .mentor_cache_hook import MentorCacheHook
from .mentor_check_hook import MentorCheckHook
from .score_snapshot_hook import ScoreSnapshotHook

__all__ = ['ClassroomHook', 'MentorCacheHook', 'MentorCheckHook', 'ScoreSnapshotHook']
