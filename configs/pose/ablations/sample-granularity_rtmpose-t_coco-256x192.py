# Rank the classroom on every sample instead of once per batch.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(granularity='sample'))
