# A CIFAR-100 classroom: the paper's schedule (240 epochs, batch 64, SGD momentum 0.9,
# weight decay 5e-4, lr 0.05 with step decay); each classroom config adds its model.
_base_ = ['./cifar100.py', './schedule_cifar_240e.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
# Stability: with t_m up to 1 + T0 = 13 and rank weights summing up to K, the first steps'
# gradients reach 40-50x their median (digits, docs/RESULTS.md "Stability"); clipping cuts
# those spikes only.
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))
custom_hooks = [dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
