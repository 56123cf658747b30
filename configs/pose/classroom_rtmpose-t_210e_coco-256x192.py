# The COCO classroom of classroom_rtmpose-t_coco-256x192.py on the paper's 210-epoch schedule
# (the stock RTMPose-t one, kept there, is 420): the stock schedule's own formulas taken at
# max_epochs = 210, as in MMPose's 210-epoch RTMPose configs (MPII, CrowdPose). Warm-up over
# the first 1000 iterations, cosine decay over the second half (epochs 105-210), the stage-2
# pipeline for the last 30 epochs (from epoch 180); EMA stays off, as in the stock RTMPose-t.
_base_ = ['./classroom_rtmpose-t_coco-256x192.py']

max_epochs = 210
stage2_num_epochs = 30
base_lr = 4e-3

train_cfg = dict(max_epochs=max_epochs)

param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0, end=1000),
    dict(
        type='CosineAnnealingLR',
        eta_min=base_lr * 0.05,
        begin=max_epochs // 2,
        end=max_epochs,
        T_max=max_epochs // 2,
        by_epoch=True,
        convert_to_iter_based=True),
]

custom_hooks = [
    dict(_base_.custom_hooks[0], switch_epoch=max_epochs - stage2_num_epochs),  # stage 2
    dict(type='ClassroomHook'),
    dict(type='MentorCheckHook'),
]
