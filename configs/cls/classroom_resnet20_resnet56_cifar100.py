# Table 2(a): resnet20 <- resnet56, peers of Appendix A: resnet8, resnet14, shufflenetv2, mobilenetv2, shufflenetv1.
_base_ = ['./_base_/classroom_cifar100.py']


def mentor(arch):  # pre-trained by configs/cls/mentors/<arch>_cifar100.py (or converted CRD)
    return dict(name=arch, config=f'configs/cls/_base_/models/{arch}.py',
                checkpoint=f'work_dirs/{arch}_cifar100/epoch_240.pth')


model = dict(
    type='ClassroomDistiller',
    student='configs/cls/_base_/models/resnet20.py',
    mentors=[
        mentor('resnet56'),
        mentor('resnet8'),
        mentor('resnet14'),
        mentor('shufflenetv2'),
        mentor('mobilenetv2'),
        mentor('shufflenetv1'),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0, distill_weight=1.0))
