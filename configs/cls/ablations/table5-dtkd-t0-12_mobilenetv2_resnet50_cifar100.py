# Table 5: DTKD's temperatures in place of Mentoring at T0 = 12 (the authors' dtkd/ configs,
# --dtkd_mentor); Knowledge Filtering kept.
_base_ = ['../classroom_mobilenetv2_resnet50_cifar100.py']
model = dict(distill_loss=dict(temperature='dtkd'))
