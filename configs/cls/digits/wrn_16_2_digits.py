_base_ = ['../_base_/models/wrn_16_2.py', '../_base_/digits.py', '../_base_/schedule_digits.py']

custom_imports = dict(imports=['classroomkd_plugin'], allow_failed_imports=False)
model = dict(head=dict(num_classes=10))
