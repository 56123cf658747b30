# A CIFAR-100 classroom with the paper's recipe (schedule_cifar_240e.py: 240 epochs, batch 64,
# the authors' lr curve, no gradient clipping); each classroom config adds its model.
_base_ = ['./cifar100.py', './schedule_cifar_240e.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
custom_hooks = [dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
