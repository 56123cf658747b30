# The paper's ImageNet classroom: a ResNet-34 student, a RegNetY-320 teacher and peers
# SqueezeNet 1.1, MobileNetV2, EfficientNet-B3 and RegNetY-016, on MMPretrain's stock
# ImageNet data and schedule (ResNet-34, 100 epochs, 8 GPUs x 32 images).
_base_ = ['mmpretrain::resnet/resnet34_8xb32_in1k.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
# Stability: with t_m up to 1 + T0 = 13 and rank weights summing up to K, the first steps'
# gradients reach 40-50x their median (digits, docs/RESULTS.md "Stability"); clipping cuts
# those spikes only.
optim_wrapper = dict(clip_grad=dict(max_norm=5.0))
custom_hooks = [dict(type='ClassroomHook'), dict(type='MentorCheckHook')]


def timm_mentor(name, model_name, checkpoint):
    """timm's released weights load strictly into TimmClassifier (it adds the prefix)."""
    return dict(name=name, checkpoint=checkpoint,
                config=dict(type='TimmClassifier', model_name=model_name, pretrained=False))


HF = 'https://huggingface.co/timm/{}/resolve/main/pytorch_model.bin'
TIMM_RELEASES = 'https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/'

model = dict(
    _delete_=True,  # the base's model becomes the student
    type='ClassroomDistiller',
    student=_base_.model,
    mentors=[
        timm_mentor('regnety_320', 'regnety_320', HF.format('regnety_320.pycls_in1k')),
        dict(name='squeezenet1_1',
             config=dict(type='TorchvisionClassifier', model_name='squeezenet1_1'),
             checkpoint='https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth'),
        timm_mentor('mobilenetv2', 'mobilenetv2_100',
                    TIMM_RELEASES + 'mobilenetv2_100_ra-b33bc2c4.pth'),
        # trained at 288 px; it teaches at the classroom's 224
        timm_mentor('efficientnet_b3', 'efficientnet_b3',
                    TIMM_RELEASES + 'efficientnet_b3_ra2-cf984f9c.pth'),
        timm_mentor('regnety_016', 'regnety_016', HF.format('regnety_016.pycls_in1k')),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=12.0, distill_weight=1.0))
