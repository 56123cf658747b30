# CA-MKD (Zhang et al. 2022): mentor weights (1 - softmax of their CE) / (K - 1), at T0.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(strategy='camkd'))
