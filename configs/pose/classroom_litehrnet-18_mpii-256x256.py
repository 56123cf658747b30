# ClassroomKD on MPII (Sarode et al., Table 2(c), same-family classroom): a LiteHRNet-18
# student taught by an HRNet-W32 DARK teacher and LiteHRNet-30, HRNet-W32 and HRNet-W48 peers,
# all heatmap models at 256x256 with their official checkpoints. The stock LiteHRNet-18 data
# pipeline and schedule are kept; only the model changes.
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
            name='litehrnet-30',
            config=mpii_configs + 'td-hm_litehrnet-30_8xb64-210e_mpii-256x256.py',
            checkpoint=weights + 'litehrnet/litehrnet30_mpii_256x256-faae8bd8_20210622.pth'),
        dict(
            name='hrnet-w32',
            config=mpii_configs + 'td-hm_hrnet-w32_8xb64-210e_mpii-256x256.py',
            checkpoint=weights + 'hrnet/hrnet_w32_mpii_256x256-6c4f923f_20200812.pth'),
        dict(
            name='hrnet-w48',
            config=mpii_configs + 'td-hm_hrnet-w48_8xb64-210e_mpii-256x256.py',
            checkpoint=weights + 'hrnet/hrnet_w48_mpii_256x256-92cab7bd_20200812.pth'),
    ],
    # heatmap_kd 'mse': the student regresses each active mentor's heatmap, as its own head
    # regresses the target heatmap; the temperature then plays no part (base_temperature 4
    # applies to heatmap_kd='kl', where softmax(10 * h / t) keeps a visible peak up to t = 5).
    # distill_weight 1: the MSE term has KeypointMSELoss's scale, so a mentor of rank 1 weighs
    # like the ground truth, as the paper's beta = 1.
    distill_loss=dict(
        type='ClassroomKDLoss', base_temperature=4.0, distill_weight=1.0, heatmap_kd='mse'))

custom_hooks = _base_.custom_hooks + [dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
