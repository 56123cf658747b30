_base_ = ['../_base_/models/wrn_16_2.py', './_base_/mentor.py']

model = dict(head=dict(num_classes=10))
