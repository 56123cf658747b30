# ClassroomKD across representations on COCO: the RTMPose-t (SimCC) student of
# classroom_rtmpose-t_coco-256x192.py taught by HRNet-W48 and HRNet-W32 (heatmap) mentors at
# 256x192 with their official checkpoints. Each mentor's heatmap becomes x/y marginal
# distributions on the student's SimCC bins, so the loss settings stay as there.
_base_ = ['./classroom_rtmpose-t_coco-256x192.py']

hrnet_configs = 'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
hrnet_weights = ('https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/'
                 'topdown_heatmap/coco/')

model = dict(mentors=[  # the teacher first
    dict(
        name='hrnet-w48',
        config=hrnet_configs + 'td-hm_hrnet-w48_8xb32-210e_coco-256x192.py',
        checkpoint=hrnet_weights + 'td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth'),
    dict(
        name='hrnet-w32',
        config=hrnet_configs + 'td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
        checkpoint=hrnet_weights + 'td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth'),
])
