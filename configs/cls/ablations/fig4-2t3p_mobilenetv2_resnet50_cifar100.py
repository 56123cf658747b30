# Figure 4: 2 teachers and 3 peers, full ClassroomKD, as the authors' mobv2_student/2t3p.yaml.
_base_ = ['../classroom_mobilenetv2_resnet50_cifar100.py']
model = dict(mentors=[
    dict(name='resnet50', config='configs/cls/_base_/models/resnet50.py',
         checkpoint='work_dirs/resnet50_cifar100/epoch_240.pth'),
    dict(name='vgg13', config='configs/cls/_base_/models/vgg13.py',
         checkpoint='work_dirs/vgg13_cifar100/epoch_240.pth'),
    dict(name='resnet8', config='configs/cls/_base_/models/resnet8.py',
         checkpoint='work_dirs/resnet8_cifar100/epoch_240.pth'),
    dict(name='resnet14', config='configs/cls/_base_/models/resnet14.py',
         checkpoint='work_dirs/resnet14_cifar100/epoch_240.pth'),
    dict(name='resnet20', config='configs/cls/_base_/models/resnet20.py',
         checkpoint='work_dirs/resnet20_cifar100/epoch_240.pth'),
])
