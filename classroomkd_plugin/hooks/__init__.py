from .classroom_hook import ClassroomHook
from .mentor_check_hook import MentorCheckHook

__all__ = ['ClassroomHook', 'MentorCheckHook']
