# A deliberately weak mentor: ResNet-20 trained on digits whose labels are 60% wrong.
_base_ = ['./resnet20_digits.py']

train_dataloader = dict(dataset=dict(label_noise=0.6))
