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
    # heatmap_kd 'kl': the paper's KD term t^2 KL on each heatmap's spatial distribution
    # softmax(10 h / t) at the mentor's temperature, so that Mentoring acts on heatmaps as on
    # logits ('mse', which regresses the mentor's heatmap, has no temperature).
    # base_temperature 4: t = 1 + 4 * gap <= 5, as in the COCO classrooms.
    # distill_weight 1: the KD term is averaged over pixels, as KeypointMSELoss is (and as
    # KLDiscretLoss averages its KL over bins), so a mentor of rank 1 weighs like the ground
    # truth, as the paper's beta = 1.
    distill_loss=dict(
        type='ClassroomKDLoss', base_temperature=4.0, distill_weight=1.0, heatmap_kd='kl'))

# MMPose's `tools/test.py --badcase` takes its metric from `model.head.loss`, which a
# classroom lacks: the student's head loss, as it would take. `--show-dir`: MMPose's OpenCV
# drawing calls int() on an array, an error under numpy 2.
default_hooks = dict(badcase=dict(metric=_base_.model.head.loss))
visualizer = dict(backend='matplotlib')

custom_hooks = _base_.custom_hooks + [dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
