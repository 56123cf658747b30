# EfficientNet-B0 (CIFAR, stem stride 1): the teacher of the homogeneous classroom
# (classroom_mobilenetv2_efficientnet_b0_cifar100.py). Its peers are checkpoints of this same
# run at chosen validation accuracies, as the authors took theirs (checkpoint-<top-1>.pth.tar of
# their EfficientNet-B0 run): validation every epoch, and ScoreSnapshotHook keeps the epoch
# closest to each accuracy as work_dirs/efficientnet_b0_cifar100/top1_<accuracy>.pth.
_base_ = [
    '../_base_/models/efficientnet_b0.py', '../_base_/cifar100.py',
    '../_base_/schedule_cifar_240e.py'
]

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)

train_cfg = dict(val_interval=1)
# The accuracies (%) of the authors' peer checkpoints: the classroom's peers, then the weak and
# the diverse peers of the Table 4(b) ablations (configs/cls/ablations/table4b-*).
custom_hooks = [
    dict(type='ScoreSnapshotHook',
         targets=[60.23, 61.03, 63.6, 66.87, 72.7, 23.62, 34.22, 44.48, 53.76, 57.86, 48.47,
                  65.31, 67.25, 72.69])
]
