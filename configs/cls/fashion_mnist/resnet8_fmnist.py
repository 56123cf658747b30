# The student: ResNet-8 (0.08 M), on the student's budget.
_base_ = ['../_base_/models/resnet8.py', './_base_/fashion_mnist.py']

model = dict(head=dict(num_classes=10))
