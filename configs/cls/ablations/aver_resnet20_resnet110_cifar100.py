# AVER: the mean of every mentor's KD term at T0.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(strategy='aver'))
