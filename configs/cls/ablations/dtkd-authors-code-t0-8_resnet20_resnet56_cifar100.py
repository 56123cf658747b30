# DTKD's temperatures in place of Mentoring as the authors' code runs them (--dtkd_mentor, their
# dtkd/r20_8.yaml, not stored): each temperature follows the other model's max logit and the KL is
# scaled by the batch mean of T_s * T_m; T0 = 8, Knowledge Filtering kept.
_base_ = ['../classroom_resnet20_resnet56_cifar100.py']
model = dict(distill_loss=dict(
    temperature='dtkd', dtkd_variant='authors_code', base_temperature=8.0))
