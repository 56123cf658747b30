# Mentors train with the student's recipe for longer, at the lr that was better for them on
# validation: 780 iterations of batch 64 (one epoch of the 50,000 training images), lr 0.1.
_base_ = ['./fashion_mnist.py']

optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = dict(T_max=780)
train_cfg = dict(max_iters=780, val_interval=780)
default_hooks = dict(checkpoint=dict(interval=780))
