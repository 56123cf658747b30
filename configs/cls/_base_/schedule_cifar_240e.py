# The CIFAR-100 recipe as the paper's authors ran it (their configs and training script): SGD
# momentum 0.9 without Nesterov, weight decay 5e-4 on every parameter, seed 42, 240 epochs.
# Per epoch e (0-based) lr = 0.05 - 0.04 * e / 120 for e < 120 (their "120-epoch warm-up" goes
# down from 0.05 to 0.01), then 0.01 for epochs 120-149, 1e-3, 1e-4 and 1e-5 from 150, 180, 210.
_base_ = ['mmpretrain::_base_/default_runtime.py']

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, nesterov=False, weight_decay=5e-4))
# MMEngine schedulers chain (each multiplies the lr it finds). LinearLR reaches end_factor at
# step end - begin - 1, so end=121 gives factor 1 - 0.8 * e / 120 at epochs 0..120 and then
# holds 0.2 (lr 0.01); MultiStepLR divides by 10 at 150, 180 and 210.
param_scheduler = [
    dict(type='LinearLR', by_epoch=True, start_factor=1.0, end_factor=0.2, begin=0, end=121),
    dict(type='MultiStepLR', by_epoch=True, milestones=[150, 180, 210], gamma=0.1),
]

train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=10)
val_cfg = dict()
test_cfg = dict()
randomness = dict(seed=42)

# Checkpoint with validation instead of every epoch, and keep the best one for mentoring.
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))

# The lr above is for a total batch of 64 (one GPU); used with --auto-scale-lr.
auto_scale_lr = dict(base_batch_size=64)
