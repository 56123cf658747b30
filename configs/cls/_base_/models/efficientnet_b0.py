# EfficientNet-B0 for CIFAR (timm's, stem stride 1), 4.14 M parameters with the 100-class head.
# The backbone pools and applies B0's dropout itself, so there is no neck.
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarEfficientNet', arch='efficientnet_b0'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
