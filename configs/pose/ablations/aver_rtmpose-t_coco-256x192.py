# AVER: the mean of every mentor's KD term at T0.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(strategy='aver'))
