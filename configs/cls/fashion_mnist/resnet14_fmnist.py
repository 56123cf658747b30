_base_ = ['../_base_/models/resnet14.py', './_base_/mentor.py']

model = dict(head=dict(num_classes=10))
