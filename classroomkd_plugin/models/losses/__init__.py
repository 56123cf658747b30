from .classroomkd_loss import ClassroomKDLoss

__all__ = ['ClassroomKDLoss']
