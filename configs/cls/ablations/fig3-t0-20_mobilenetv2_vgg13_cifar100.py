# Figure 3: base temperature T0 = 20 (the classroom runs 12).
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(base_temperature=20.0))
