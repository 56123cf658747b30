# ShuffleNetV1 g3, 0.95 M parameters with the 100-class head (CRD layout).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarShuffleNetV1', arch='shufflenetv1_g3'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=960,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
