# Table 3, row 1: no Knowledge Filtering, no Mentoring (every mentor teaches at T0 with weight 1).
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(knowledge_filtering=False, mentoring=False))
