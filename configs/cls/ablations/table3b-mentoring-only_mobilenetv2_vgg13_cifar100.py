# Table 3(b) Mentoring without KF: every mentor teaches with weight 1 at its t_m, task weight 1.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(knowledge_filtering=False))
