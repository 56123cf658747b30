# Table 2(a): mobilenetv2 <- resnet50, peers of Appendix A: resnet8, resnet14, resnet20, shufflenetv1, shufflenetv2.
_base_ = ['./_base_/classroom_cifar100.py']


def mentor(arch):  # pre-trained by configs/cls/mentors/<arch>_cifar100.py (or converted CRD)
    return dict(name=arch, config=f'configs/cls/_base_/models/{arch}.py',
                checkpoint=f'work_dirs/{arch}_cifar100/epoch_240.pth')


model = dict(
    type='ClassroomDistiller',
    student='configs/cls/_base_/models/mobilenetv2.py',
    mentors=[
        mentor('resnet50'),
        mentor('resnet8'),
        mentor('resnet14'),
        mentor('resnet20'),
        mentor('shufflenetv1'),
        mentor('shufflenetv2'),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0, distill_weight=1.0))
