# NOKD: the student trained alone (no mentor is loaded or run).
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(strategy='nokd'))
