# Table 2(a): vgg8 <- vgg13, peers of Appendix A: resnet20, mobilenetv2, shufflenetv2, resnet56, resnet110.
_base_ = ['./_base_/classroom_cifar100.py']


def mentor(arch):  # pre-trained by configs/cls/mentors/<arch>_cifar100.py (or converted CRD)
    return dict(name=arch, config=f'configs/cls/_base_/models/{arch}.py',
                checkpoint=f'work_dirs/{arch}_cifar100/epoch_240.pth')


model = dict(
    type='ClassroomDistiller',
    student='configs/cls/_base_/models/vgg8.py',
    mentors=[
        mentor('vgg13'),
        mentor('resnet20'),
        mentor('mobilenetv2'),
        mentor('shufflenetv2'),
        mentor('resnet56'),
        mentor('resnet110'),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0, distill_weight=1.0))
