# ClassroomKD on MPII (Sarode et al., Table 2(c), mixed classroom): a LiteHRNet-18 student
# taught by an HRNet-W32 DARK teacher and SimpleBaseline ShuffleNetV2, MobileNetV2 and
# ResNet-50 peers, all heatmap models at 256x256 with their official checkpoints. The stock
# LiteHRNet-18 data pipeline and schedule are kept; only the model changes.
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/mpii/td-hm_litehrnet-18_8xb64-210e_mpii-256x256.py'
]

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)

mpii_configs = 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
weights = 'https://download.openmmlab.com/mmpose/top_down/'

model = dict(
    _delete_=True,
    type='ClassroomDistiller',
    student=_base_.model,
    mentors=[  # the teacher first
        dict(
            name='hrnet-w32-dark',
            config=mpii_configs + 'td-hm_hrnet-w32_dark-8xb64-210e_mpii-256x256.py',
            checkpoint=weights + 'hrnet/hrnet_w32_mpii_256x256_dark-f1601c5b_20200927.pth'),
        dict(
            name='shufflenetv2',
            config=mpii_configs + 'td-hm_shufflenetv2_8xb64-210e_mpii-256x256.py',
            checkpoint=weights +
            'shufflenetv2/shufflenetv2_mpii_256x256-4fb9df2d_20200925.pth'),
        dict(
            name='mobilenetv2',
            config=mpii_configs + 'td-hm_mobilenetv2_8xb64-210e_mpii-256x256.py',
            checkpoint=weights + 'mobilenetv2/mobilenetv2_mpii_256x256-e068afa7_20200812.pth'),
        dict(
            name='resnet-50',
            config=mpii_configs + 'td-hm_res50_8xb64-210e_mpii-256x256.py',
            checkpoint=weights + 'resnet/res50_mpii_256x256-418ffc88_20200812.pth'),
    ],
    # base_temperature, distill_weight and heatmap_kd as in
    # classroom_litehrnet-18_mpii-256x256.py (same student, same kind of mentors).
    distill_loss=dict(
        type='ClassroomKDLoss', base_temperature=4.0, distill_weight=1.0, heatmap_kd='mse'))

custom_hooks = _base_.custom_hooks + [dict(type='ClassroomHook')]
