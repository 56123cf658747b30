# Batch performance as the arithmetic mean of the keypoint similarities, not their geometric mean.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(performance='arithmetic'))
