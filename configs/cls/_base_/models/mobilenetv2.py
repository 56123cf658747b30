# MobileNetV2 x0.5 (CRD mobile_half), 0.81 M parameters with the 100-class head (CRD layout).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarMobileNetV2', arch='mobilenetv2_0.5'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=1280,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
