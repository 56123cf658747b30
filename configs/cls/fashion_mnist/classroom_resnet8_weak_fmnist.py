# The Fashion-MNIST classroom plus a weak peer (ResNet-14 trained on 60% wrong labels), to test
# the paper's claim that Knowledge Filtering keeps a bad mentor's errors from the student.
_base_ = ['./classroom_resnet8_fmnist.py']

model = dict(mentors=_base_.model.mentors + [
    dict(name='resnet14_noisy', config='configs/cls/fashion_mnist/resnet14_noisy_fmnist.py',
         checkpoint='work_dirs/resnet14_noisy_fmnist/iter_780.pth')
])
