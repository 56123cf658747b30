# CRD's CIFAR-100 recipe: SGD, lr 0.05 divided by 10 at epochs 150/180/210, 240 epochs.
_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='MultiStepLR', by_epoch=True, milestones=[150, 180, 210], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=10)
val_cfg = dict()
test_cfg = dict()

# Checkpoint with validation instead of every epoch, and keep the best one for mentoring.
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))

# The lr above is for a total batch of 64 (one GPU); used with --auto-scale-lr.
auto_scale_lr = dict(base_batch_size=64)
