# The paper's ImageNet classroom: a ResNet-34 student, a RegNetY-320 teacher and peers
# SqueezeNet 1.1, MobileNetV2, EfficientNet-B3 and RegNetY-016, on MMPretrain's stock ImageNet
# data, with the authors' recipe: T0 = 8; SGD with Nesterov momentum 0.9, lr 0.1 divided by 10
# every 30 epochs over 100 epochs (the base's MultiStepLR at 30/60/90), weight decay 1e-4
# except on biases and norm layers; no gradient clipping.
_base_ = ['mmpretrain::resnet/resnet34_8xb32_in1k.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
custom_hooks = [
    dict(type='MentorCacheHook'), dict(type='ClassroomHook'), dict(type='MentorCheckHook')]
# Deterministic views (a sample's augmentation is a function of the seed, the pass and its
# index): what `--cfg-options model.mentor_cache.dir=PATH` needs; training is unchanged otherwise.
train_dataloader = dict(
    dataset=dict(_delete_=True, type='DeterministicViews',
                 dataset={{_base_.train_dataloader.dataset}}),
    sampler=dict(_delete_=True, type='ViewSampler', sampler={{_base_.train_dataloader.sampler}}))


optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
# Batch: the authors launched 512 images per process with lr 0.1, and their code never scales
# the lr with the number of processes. batch_size here is per process too, so N processes
# (tools/dist_train.sh CONFIG N) train on 512 * N images per step at lr 0.1, as they did.
# --auto-scale-lr instead multiplies the lr by 512 * N / base_batch_size = N (0.1 on one
# process, 0.8 on 8).
train_dataloader = dict(batch_size=512)
auto_scale_lr = dict(base_batch_size=512)


def timm_mentor(name, model_name, checkpoint):
    """timm's released weights load strictly into TimmClassifier (it adds the prefix)."""
    return dict(name=name, checkpoint=checkpoint,
                config=dict(type='TimmClassifier', model_name=model_name, pretrained=False))


def torchvision_mentor(name, model_name, checkpoint):
    """torchvision's released weights load strictly into TorchvisionClassifier."""
    return dict(name=name, checkpoint=TORCHVISION + checkpoint,
                config=dict(type='TorchvisionClassifier', model_name=model_name))


HF = 'https://huggingface.co/timm/{}/resolve/main/pytorch_model.bin'
TIMM_RELEASES = 'https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/'
TORCHVISION = 'https://download.pytorch.org/models/'

model = dict(
    _delete_=True,  # the base's model becomes the student
    type='ClassroomDistiller',
    student=_base_.model,
    mentors=[
        timm_mentor('regnety_320', 'regnety_320', HF.format('regnety_320.pycls_in1k')),
        torchvision_mentor('squeezenet1_1', 'squeezenet1_1', 'squeezenet1_1-b8a52dc0.pth'),
        # torchvision's, as the authors' (71.878% top-1, the paper's 71.88)
        torchvision_mentor('mobilenetv2', 'mobilenet_v2', 'mobilenet_v2-b0353104.pth'),
        # trained at 288 px; it teaches at the classroom's 224
        timm_mentor('efficientnet_b3', 'efficientnet_b3',
                    TIMM_RELEASES + 'efficientnet_b3_ra2-cf984f9c.pth'),
        timm_mentor('regnety_016', 'regnety_016', HF.format('regnety_016.pycls_in1k')),
    ],
    distill_loss=dict(type='ClassroomKDLoss', base_temperature=8.0, distill_weight=1.0))
