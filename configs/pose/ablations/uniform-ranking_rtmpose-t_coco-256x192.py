# The paper's Method B: rank scores 0.1, 0.2, ... by ascending performance, not K w / sum w.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(ranking='uniform'))
