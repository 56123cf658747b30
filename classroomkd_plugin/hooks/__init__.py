from .classroom_hook import ClassroomHook

__all__ = ['ClassroomHook']
