"""ClassroomKD in plain PyTorch: no MMEngine, no OpenMMLab imports."""
from .cls import ClsLogits, kl_at_temperature
from .objective import (ClassroomResult, ClassroomSettings, check_mentor_name,
                        classroom_objective, plan_classroom, summarize)
from .ranking import (DTKD_VARIANTS, STRATEGIES, TEMPERATURES, Plan, make_plan, performance,
                      rank_scores)
from .representation import Representation

__all__ = [
    'ClsLogits', 'kl_at_temperature', 'ClassroomResult', 'ClassroomSettings',
    'check_mentor_name', 'classroom_objective', 'plan_classroom', 'summarize', 'STRATEGIES',
    'TEMPERATURES', 'DTKD_VARIANTS', 'Plan', 'make_plan', 'performance', 'rank_scores',
    'Representation'
]
