# ClassroomKD on MPII (Sarode et al., Table 2(c), mixed classroom): the same-family classroom's
# LiteHRNet-18 student and HRNet-W32 DARK teacher, with SimpleBaseline ShuffleNetV2,
# MobileNetV2 and ResNet-50 peers instead, all heatmap models at 256x256 with their official
# checkpoints; loss settings as there.
_base_ = ['./classroom_litehrnet-18_mpii-256x256.py']

mpii_configs = 'mmpose::body_2d_keypoint/topdown_heatmap/mpii/'
weights = 'https://download.openmmlab.com/mmpose/top_down/'

model = dict(mentors=[
    _base_.model.mentors[0],  # the teacher
    dict(
        name='shufflenetv2',
        config=mpii_configs + 'td-hm_shufflenetv2_8xb64-210e_mpii-256x256.py',
        checkpoint=weights + 'shufflenetv2/shufflenetv2_mpii_256x256-4fb9df2d_20200925.pth'),
    dict(
        name='mobilenetv2',
        config=mpii_configs + 'td-hm_mobilenetv2_8xb64-210e_mpii-256x256.py',
        checkpoint=weights + 'mobilenetv2/mobilenetv2_mpii_256x256-e068afa7_20200812.pth'),
    dict(
        name='resnet-50',
        config=mpii_configs + 'td-hm_res50_8xb64-210e_mpii-256x256.py',
        checkpoint=weights + 'resnet/res50_mpii_256x256-418ffc88_20200812.pth'),
])
