# ResNet-56, 0.86 M parameters with the 100-class head (CRD layout).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarResNet', arch='resnet56'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=64,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
