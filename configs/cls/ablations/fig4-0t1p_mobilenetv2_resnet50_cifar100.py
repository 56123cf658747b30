# Figure 4: 0 teachers and 1 peer, full ClassroomKD, as the authors' mobv2_student/0t1p.yaml.
_base_ = ['../classroom_mobilenetv2_resnet50_cifar100.py']
model = dict(mentors=[
    dict(name='resnet8', config='configs/cls/_base_/models/resnet8.py',
         checkpoint='work_dirs/resnet8_cifar100/epoch_240.pth'),
])
