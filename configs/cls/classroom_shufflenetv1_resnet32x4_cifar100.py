# Appendix A: shufflenetv1 <- resnet32x4, peers resnet8, resnet14, resnet20, mobilenetv2, shufflenetv2
# (the peers of the authors' ShuffleNetV1-student classrooms, configs/classroom/shufflev1_student/).
_base_ = ['./_base_/classroom_cifar100.py']


def mentor(arch):  # pre-trained by configs/cls/mentors/<arch>_cifar100.py (or converted CRD)
    return dict(name=arch, config=f'configs/cls/_base_/models/{arch}.py',
                checkpoint=f'work_dirs/{arch}_cifar100/epoch_240.pth')


model = dict(
    type='ClassroomDistiller',
    student='configs/cls/_base_/models/shufflenetv1.py',
    mentors=[
        mentor('resnet32x4'),
        mentor('resnet8'),
        mentor('resnet14'),
        mentor('resnet20'),
        mentor('mobilenetv2'),
        mentor('shufflenetv2'),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0, distill_weight=1.0))
