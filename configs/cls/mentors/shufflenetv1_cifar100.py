_base_ = [
    '../_base_/models/shufflenetv1.py', '../_base_/cifar100.py', '../_base_/schedule_cifar_240e.py'
]

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
