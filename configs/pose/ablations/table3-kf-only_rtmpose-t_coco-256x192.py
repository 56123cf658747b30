# Table 3, row 2: Knowledge Filtering only (the mentors it keeps teach at T0).
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(mentoring=False))
