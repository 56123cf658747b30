# Table 3(a) row 1 (also Figure 4, 0 teachers and 0 peers): the student alone, no mentor loaded.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(distill_loss=dict(strategy='nokd'))
