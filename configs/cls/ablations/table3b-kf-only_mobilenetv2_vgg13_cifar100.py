# Table 3(b) KF without Mentoring, our variant: the mentors KF keeps teach with weight r_m at T0 =
# 12.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(mentoring=False))
