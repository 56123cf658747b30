# Table 4(b): diverse peers, EfficientNet-B0 checkpoints at 48.47 to 72.69 % top-1 (the authors'
# efficientnet_ablation/1t5p_peers/1t5p_diverse.yaml).
_base_ = ['../classroom_mobilenetv2_efficientnet_b0_cifar100.py']
model = dict(mentors=[
    dict(name='efficientnet_b0', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/epoch_240.pth'),
    dict(name='efficientnet_b0_48_47', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_48.47.pth'),
    dict(name='efficientnet_b0_60_23', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_60.23.pth'),
    dict(name='efficientnet_b0_65_31', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_65.31.pth'),
    dict(name='efficientnet_b0_67_25', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_67.25.pth'),
    dict(name='efficientnet_b0_72_69', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_72.69.pth'),
])
