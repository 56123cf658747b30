# Table 6: Method B, rank scores 0.1, 0.2, ... by ascending performance instead of K w / sum w.
_base_ = ['../classroom_shufflenetv2_resnet32x4_cifar100.py']
model = dict(distill_loss=dict(ranking='uniform'))
