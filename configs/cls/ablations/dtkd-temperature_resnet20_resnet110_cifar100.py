# DTKD's max-logit temperatures (Wei & Bai 2024) in place of Mentoring; Knowledge Filtering kept.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(temperature='dtkd'))
