# Table 4(b): weak peers, EfficientNet-B0 checkpoints at 23.62 to 57.86 % top-1 (the authors'
# efficientnet_ablation/1t5p_peers/1t5p_all_dumb.yaml).
_base_ = ['../classroom_mobilenetv2_efficientnet_b0_cifar100.py']
model = dict(mentors=[
    dict(name='efficientnet_b0', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/epoch_240.pth'),
    dict(name='efficientnet_b0_23_62', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_23.62.pth'),
    dict(name='efficientnet_b0_34_22', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_34.22.pth'),
    dict(name='efficientnet_b0_44_48', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_44.48.pth'),
    dict(name='efficientnet_b0_53_76', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_53.76.pth'),
    dict(name='efficientnet_b0_57_86', config='configs/cls/_base_/models/efficientnet_b0.py',
         checkpoint='work_dirs/efficientnet_b0_cifar100/top1_57.86.pth'),
])
