# Table 3(a) row 3 = Table 3(b) without KF and Mentoring, as the authors ran it (--no_ask): every
# mentor teaches with weight 1 at temperature 1, task weight 1.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(knowledge_filtering=False, mentoring=False, base_temperature=1.0))
