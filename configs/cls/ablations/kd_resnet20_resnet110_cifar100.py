# KD (Hinton et al. 2015): the teacher (first mentor) alone at T0.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(strategy='kd'))
