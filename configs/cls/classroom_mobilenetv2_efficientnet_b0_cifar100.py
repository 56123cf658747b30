# Table 4(a), architectural diversity: mobilenetv2 <- six EfficientNet-B0 mentors, as the authors'
# efficientnet_ablation/1t6p.yaml: the teacher is a trained EfficientNet-B0, the five peers are
# checkpoints of that same run at validation top-1 60.23, 61.03, 63.60, 66.87 and 72.70 %.
# All six come from configs/cls/mentors/efficientnet_b0_cifar100.py (ScoreSnapshotHook).
_base_ = ['./_base_/classroom_cifar100.py']


def efficientnet_b0(name, checkpoint):
    return dict(name=name, config='configs/cls/_base_/models/efficientnet_b0.py',
                checkpoint=f'work_dirs/efficientnet_b0_cifar100/{checkpoint}.pth')


def peer(top1):  # the checkpoint closest to this validation top-1 (%)
    return efficientnet_b0(f"efficientnet_b0_{top1.replace('.', '_')}", f'top1_{top1}')


model = dict(
    type='ClassroomDistiller',
    student='configs/cls/_base_/models/mobilenetv2.py',
    mentors=[
        efficientnet_b0('efficientnet_b0', 'epoch_240'),
        peer('60.23'),
        peer('61.03'),
        peer('63.60'),
        peer('66.87'),
        peer('72.70'),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0, distill_weight=1.0))
