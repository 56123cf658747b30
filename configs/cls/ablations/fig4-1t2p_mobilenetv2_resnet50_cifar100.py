# Figure 4: 1 teacher and 2 peers, full ClassroomKD, as the authors' mobv2_student/1t2p.yaml.
_base_ = ['../classroom_mobilenetv2_resnet50_cifar100.py']
model = dict(mentors=[
    dict(name='resnet50', config='configs/cls/_base_/models/resnet50.py',
         checkpoint='work_dirs/resnet50_cifar100/epoch_240.pth'),
    dict(name='resnet8', config='configs/cls/_base_/models/resnet8.py',
         checkpoint='work_dirs/resnet8_cifar100/epoch_240.pth'),
    dict(name='resnet14', config='configs/cls/_base_/models/resnet14.py',
         checkpoint='work_dirs/resnet14_cifar100/epoch_240.pth'),
])
