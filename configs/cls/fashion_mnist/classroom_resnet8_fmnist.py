# ClassroomKD on Fashion-MNIST: a ResNet-8 student (0.08 M), a WRN-16-2 teacher (0.69 M) and
# ResNet-20 (0.27 M) and ResNet-14 (0.18 M) peers, each trained first with its own config here
# (tools/train.py configs/cls/fashion_mnist/<arch>_fmnist.py); `make demo` does all of it.
_base_ = ['./_base_/fashion_mnist.py']

model = dict(
    type='ClassroomDistiller',
    student='configs/cls/fashion_mnist/resnet8_fmnist.py',
    mentors=[
        dict(name=arch, config=f'configs/cls/fashion_mnist/{arch}_fmnist.py',
             checkpoint=f'work_dirs/{arch}_fmnist/iter_780.pth')
        for arch in ('wrn_16_2', 'resnet20', 'resnet14')
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0))
custom_hooks = [dict(type='MentorCacheHook'), dict(type='ClassroomHook'),
                dict(type='MentorCheckHook', max_batches=4)]
