# Batch performance as the arithmetic mean of the true-class probabilities instead of exp(-CE).
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(performance='arithmetic'))
