# Figure 3: base temperature T0 = 8 (the classroom runs 12).
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(base_temperature=8.0))
