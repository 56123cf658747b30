# Table 3(b) without KF and Mentoring, our variant: every mentor teaches with weight 1 at T0 = 12,
# task weight 1.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(knowledge_filtering=False, mentoring=False))
