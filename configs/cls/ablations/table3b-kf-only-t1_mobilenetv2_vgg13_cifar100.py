# Table 3(b) KF without Mentoring, as the authors ran it (--ask --no_mentor): the mentors KF keeps
# teach with weight r_m at temperature 1.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(mentoring=False, base_temperature=1.0))
