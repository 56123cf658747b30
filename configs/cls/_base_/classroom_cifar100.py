# A CIFAR-100 classroom: the paper's schedule (240 epochs, batch 64, SGD momentum 0.9,
# weight decay 5e-4, lr 0.05 with step decay); each classroom config adds its model.
_base_ = ['./cifar100.py', './schedule_cifar_240e.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
custom_hooks = [dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
