# CIFAR-100 with the standard crop/flip augmentation at batch 64 (CRD's single-GPU setting);
# the last incomplete training batch is dropped, as in the paper's authors' runs.
_base_ = ['mmpretrain::_base_/datasets/cifar100_bs16.py']

train_dataloader = dict(batch_size=64, drop_last=True)
val_dataloader = dict(batch_size=64)
# The base binds test_* to copies of val_*, so the overrides are repeated.
test_dataloader = dict(batch_size=64)
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_evaluator = dict(type='Accuracy', topk=(1, 5))
