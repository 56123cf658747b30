# Table 3, row 3: Mentoring only (every mentor teaches, weight 1). Row 4 (both) is the base.
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(knowledge_filtering=False))
