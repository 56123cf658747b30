# The digits classroom plus a weak peer (trained on 60% wrong labels), to test the paper's
# claim that Knowledge Filtering keeps bad mentors' errors from accumulating.
_base_ = ['./classroom_resnet8_digits.py']

model = dict(mentors=_base_.model.mentors + [
    dict(name='resnet20_noisy', config='configs/cls/digits/resnet20_noisy_digits.py',
         checkpoint='work_dirs/resnet20_noisy_digits/epoch_30.pth')
])
