# DGKD (Son et al. 2021): mentors dropped with probability 0.5 per iteration, the rest averaged.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(strategy='dgkd'))
