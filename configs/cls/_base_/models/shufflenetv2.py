# ShuffleNetV2 1.0x, 1.36 M parameters with the 100-class head (CRD layout).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarShuffleNetV2', arch='shufflenetv2_1.0'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=1024,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
