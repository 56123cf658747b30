from typing import Optional

import torchvision
from mmpretrain.models import TimmClassifier
from mmpretrain.models.classifiers import BaseClassifier
from mmpretrain.registry import MODELS


@MODELS.register_module()
class TorchvisionClassifier(TimmClassifier):
    """A torchvision classification model as an MMPretrain classifier.

    For architectures that neither timm nor MMPretrain has, or whose torchvision weights a
    classroom needs: the peers SqueezeNet 1.1 and MobileNetV2 (torchvision's, 71.878% top-1,
    as the authors used) of the paper's ImageNet classroom. Works like ``TimmClassifier``:
    ``state_dict`` keys are the torchvision ones, so torchvision's released weights load
    unchanged.

    Args:
        model_name (str): a ``torchvision.models.get_model`` name, e.g. 'squeezenet1_1',
            'mobilenet_v2'.
        num_classes (int): number of classes. Defaults to 1000.
        loss (dict): the classification loss. Defaults to cross-entropy.
        data_preprocessor (dict, optional): defaults to ``ClsDataPreprocessor``.
        init_cfg (dict, optional): initialisation config.
    """

    def __init__(self,
                 model_name: str,
                 num_classes: int = 1000,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        data_preprocessor = dict(data_preprocessor or {})
        data_preprocessor.setdefault('type', 'mmpretrain.ClsDataPreprocessor')
        # TimmClassifier.__init__ would build a timm model: only the base is initialised
        BaseClassifier.__init__(self, init_cfg=init_cfg, data_preprocessor=data_preprocessor)
        self.model = torchvision.models.get_model(model_name, num_classes=num_classes)
        self.model.num_classes = num_classes
        self.loss_module = MODELS.build(loss)
        self.with_cp = False
        self._register_state_dict_hook(self._remove_state_dict_prefix)
        self._register_load_state_dict_pre_hook(self._add_state_dict_prefix)
