# Fashion-MNIST (real, 28x28 grey, 10 classes) for the CIFAR models, CPU protocol. 10,000 of the
# 60,000 training images are held out for validation (FashionMNISTSplit): every choice below was
# made on them (docs/RESULTS.md, "Fashion-MNIST"); the test split is used once, for the table.
_base_ = ['mmpretrain::_base_/default_runtime.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)

dataset_type = 'FashionMNISTSplit'
data_root = 'data/fashion_mnist'  # `make data` (or `make demo`) puts the four files there
# mean and std of the 50,000 training-split images; the grey channel is served three times
data_preprocessor = dict(num_classes=10, mean=[73.2] * 3, std=[90.2] * 3, to_rgb=False)

# The CIFAR recipe at 28x28: pad 4 and crop; no flip (it did not help on validation).
train_pipeline = [dict(type='RandomCrop', crop_size=28, padding=4), dict(type='PackInputs')]
test_pipeline = [dict(type='PackInputs')]

# Deterministic views (a sample's augmentation is a function of the seed, the pass and its
# index): every method sees the same views on a seed, and `model.mentor_cache` can key on them.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type='DeterministicViews', dataset=dict(
        type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline)),
    sampler=dict(type='ViewSampler', sampler=dict(type='DefaultSampler', shuffle=True)))
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type=dataset_type, data_root=data_root, split='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(val_dataloader, dataset=dict(val_dataloader['dataset'], split='test'))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

# The student's budget: 480 iterations of batch 64 (0.6 epoch of the 50,000 training images),
# SGD as in the CIFAR recipe with cosine decay.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.2, momentum=0.9, weight_decay=5e-4))
param_scheduler = dict(type='CosineAnnealingLR', by_epoch=False, T_max=480, eta_min=0.0)
train_cfg = dict(by_epoch=False, max_iters=480, val_interval=480)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(by_epoch=False, interval=480, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
