# Rank the classroom on every sample instead of once per batch.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(granularity='sample'))
