# Table 3, row 2: Knowledge Filtering only (the mentors it keeps teach at T0).
_base_ = ['../classroom_resnet20_resnet110_cifar100.py']
model = dict(distill_loss=dict(mentoring=False))
