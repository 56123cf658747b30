# WRN-40-2, 2.26 M parameters with the 100-class head (CRD layout).
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CifarWideResNet', arch='wrn_40_2'),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ))
