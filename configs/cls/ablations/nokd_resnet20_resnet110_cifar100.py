# NOKD: the student trained alone (no mentor is loaded or run).
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(strategy='nokd'))
