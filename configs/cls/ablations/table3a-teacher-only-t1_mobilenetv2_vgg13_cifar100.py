# Table 3(a) row 2: the teacher alone (the authors' mobv2_student/1t0p_vgg.yaml) without
# adaptation, at temperature 1 as the authors trained without adaptation.
_base_ = ['../classroom_mobilenetv2_vgg13_cifar100.py']
model = dict(mentors=[
    dict(name='vgg13', config='configs/cls/_base_/models/vgg13.py',
         checkpoint='work_dirs/vgg13_cifar100/epoch_240.pth'),
], distill_loss=dict(knowledge_filtering=False, mentoring=False, base_temperature=1.0))
