# DTKD's temperatures (Wei & Bai 2024; x = mean peak SimCC logit) in place of Mentoring.
_base_ = ['../classroom_rtmpose-t_coco-256x192.py']
model = dict(distill_loss=dict(temperature='dtkd'))
