"""`import classroomkd_plugin` registers every class where the stock tools look."""
import mmengine.registry
import mmpose.registry
import mmpretrain.registry

import classroomkd_plugin  # noqa: F401


def test_classes_are_found_from_every_registry():
    for registry in (mmengine.registry.MODELS, mmpretrain.registry.MODELS,
                     mmpose.registry.MODELS):
        assert registry.get('ClassroomKDLoss').__name__ == 'ClassroomKDLoss'
        assert registry.get('ClassroomDistiller').__name__ == 'ClassroomDistiller'
    for registry in (mmengine.registry.HOOKS, mmpretrain.registry.HOOKS, mmpose.registry.HOOKS):
        assert registry.get('ClassroomHook') and registry.get('MentorCheckHook')
    assert mmpretrain.registry.MODELS.get('CifarResNet')
    assert mmpretrain.registry.MODELS.get('TorchvisionClassifier')
    assert mmpretrain.registry.DATASETS.get('Digits')


def test_root_registry_builds_the_loss():
    loss = mmengine.registry.MODELS.build(dict(type='ClassroomKDLoss', base_temperature=4.0))
    assert loss.settings.base_temperature == 4.0
