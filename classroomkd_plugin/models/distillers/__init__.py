from .classroom_distiller import ClassroomDistiller, ClassroomError

__all__ = ['ClassroomDistiller', 'ClassroomError']
