# ClassroomKD across representations on COCO: an RTMPose-t (SimCC) student taught by HRNet-W48
# and HRNet-W32 (heatmap) mentors at 256x192 with their official checkpoints. Each mentor's
# heatmap becomes x/y marginal distributions on the student's SimCC bins. The stock RTMPose-t
# data pipeline and schedule are kept; only the model changes.
_base_ = ['mmpose::body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)

hrnet_configs = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
hrnet_weights = ('https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
                 'topdown_heatmap/coco/')

model = dict(
    _delete_=True,
    type='ClassroomDistiller',
    student=_base_.model,
    mentors=[  # the teacher first
        dict(
            name='hrnet-w48',
            config=hrnet_configs + 'td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
            checkpoint=hrnet_weights +
            'td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth'),
        dict(
            name='hrnet-w32',
            config=hrnet_configs + 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
            checkpoint=hrnet_weights +
            'td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth'),
    ],
    # base_temperature 4 and distill_weight 1 as in classroom_rtmpose-t_coco-256x192.py: the
    # student is the same SimCC model and the converted mentors are distributions on its bins.
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=4.0, distill_weight=1.0))

custom_hooks = _base_.custom_hooks + [dict(type='ClassroomHook')]
