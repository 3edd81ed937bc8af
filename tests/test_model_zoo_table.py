"""tools/model_zoo_table.py measures what torchvision publishes for ResNet-18."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tool():
    from tools import model_zoo_table

    return model_zoo_table


def test_resnet18_params_and_flops_match_torchvision():
    params, gflops = _tool().measure("resnet18")
    assert params == 11_689_512  # torchvision ResNet18_Weights.meta["num_params"]
    # torchvision's meta["_ops"] is 1.814 G multiply-adds; XLA counts 2 FLOPs each, plus
    # the BatchNorm, ReLU and pooling arithmetic that multiply-add counts leave out.
    assert 1.814 <= gflops / 2 <= 1.814 * 1.02
