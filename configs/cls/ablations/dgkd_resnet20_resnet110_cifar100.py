# DGKD (Son et al. 2021): mentors dropped with probability 0.5 per iteration, the rest averaged.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(strategy='dgkd'))
