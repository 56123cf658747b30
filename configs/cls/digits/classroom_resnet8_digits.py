# ClassroomKD on the digits: a ResNet-8 student, a ResNet-32 teacher and three peers.
# Train each mentor first with its own config (tools/train.py configs/cls/digits/<arch>_digits.py);
# `make demo` does all of it.
_base_ = ['../_base_/digits.py', '../_base_/schedule_digits.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
# Stability: with t_m up to 1 + T0 = 13 and rank weights summing up to K, the first steps'
# gradients reach 40-50x their median (digits, docs/RESULTS.md "Stability"); clipping cuts
# those spikes only.
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))

model = dict(
    type='ClassroomDistiller',
    student='configs/cls/digits/resnet8_digits.py',
    mentors=[
        dict(name=arch, config=f'configs/cls/digits/{arch}_digits.py',
             checkpoint=f'work_dirs/{arch}_digits/epoch_30.pth')
        for arch in ('resnet32', 'resnet20', 'resnet14', 'mobilenetv2')
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0))
custom_hooks = [
    dict(type='MentorCacheHook'), dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
# Deterministic views (a sample's augmentation is a function of the seed, the pass and its
# index): what `--cfg-options model.mentor_cache.dir=PATH` needs; training is unchanged otherwise.
train_dataloader = dict(
    dataset=dict(_delete_=True, type='DeterministicViews',
                 dataset={{_base_.train_dataloader.dataset}}),
    sampler=dict(_delete_=True, type='ViewSampler', sampler={{_base_.train_dataloader.sampler}}))

