"""ClassroomKD for OpenMMLab: ``import classroomkd_plugin`` registers every class.

The loss, the distiller and the hooks go into MMEngine's root registries, which MMPretrain's
and MMPose's registries search too; the CIFAR backbones and the digits dataset go into
MMPretrain's. Where MMPose is installed, ``mmpose.apis.init_model`` also takes a classroom
config and checkpoint (``classroomkd_plugin.student``).
"""
from .checkpoint import allow_mmengine_checkpoints
from .datasets import *  # noqa: F401,F403
from .hooks import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .student import patch_mmpose_init_model

__version__ = '0.1.0'

allow_mmengine_checkpoints()
patch_mmpose_init_model()
