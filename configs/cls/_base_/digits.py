# scikit-learn's handwritten digits (offline, real): 8x8 grey images shown to the CIFAR
# models at 16x16, with the CIFAR crop augmentation (no flip: digits are not symmetric).
dataset_type = 'Digits'
data_preprocessor = dict(num_classes=10, mean=[77.9] * 3, std=[95.9] * 3, to_rgb=False)

train_pipeline = [
    dict(type='Resize', scale=(16, 16)),
    dict(type='RandomCrop', crop_size=16, padding=2),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='Resize', scale=(16, 16)), dict(type='PackInputs')]

train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type=dataset_type, split='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
test_dataloader = dict(
    batch_size=256,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator
