# A deliberately weak mentor: ResNet-14 trained like the others on labels of which 60% are
# replaced by a random other class.
_base_ = ['./resnet14_fmnist.py']

train_dataloader = dict(dataset=dict(dataset=dict(label_noise=0.6)))
