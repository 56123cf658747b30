# CA-MKD (Zhang et al. 2022): mentor weights (1 - softmax of -log OKS) / (K - 1), at T0.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(strategy='camkd'))
