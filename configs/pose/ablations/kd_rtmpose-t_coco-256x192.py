# KD (Hinton et al. 2015): the teacher (first mentor) alone at T0.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(strategy='kd'))
