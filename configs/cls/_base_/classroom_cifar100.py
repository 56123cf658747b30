# A CIFAR-100 classroom with the paper's recipe (schedule_cifar_240e.py: 240 epochs, batch 64,
# the authors' lr curve, no gradient clipping); each classroom config adds its model.
_base_ = ['./cifar100.py', './schedule_cifar_240e.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
custom_hooks = [
    dict(type='MentorCacheHook'), dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
# Deterministic views (a sample's augmentation is a function of the seed, the pass and its
# index): what `--cfg-options model.mentor_cache.dir=PATH` needs; training is unchanged otherwise.
train_dataloader = dict(
    dataset=dict(_delete_=True, type='DeterministicViews',
                 dataset={{_base_.train_dataloader.dataset}}),
    sampler=dict(_delete_=True, type='ViewSampler', sampler={{_base_.train_dataloader.sampler}}))

