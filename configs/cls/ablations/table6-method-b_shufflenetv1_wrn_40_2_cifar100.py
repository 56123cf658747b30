# Table 6: Method B, rank scores 0.1, 0.2, ... by ascending performance instead of K w / sum w.
_base_ = ['../classroom_shufflenetv1_wrn_40_2_cifar100.py']
model = dict(distill_loss=dict(ranking='uniform'))
