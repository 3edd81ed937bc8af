"""mmaction2 1.2's own 2D recognizers (TSN, TSM, non-local TSM) give our TSN's logits.

Each test builds an mmaction2 ``Recognizer2D`` from its registry (mmaction2's real
``ResNet`` / ``ResNetTSM`` backbone, mmcv's ``NonLocal3d``, ``TSNHead`` / ``TSMHead``) with
random weights and randomized BatchNorm statistics in eval mode, converts its
``state_dict`` with ``convert_torch.convert_torchvision`` and compares the logits of our
``TSN`` (ResNet backbone with the matching options, average consensus) on the same
frames. Full-depth networks at 32x32 frames; skipped without mmaction2.
"""

import flax
import numpy as np
import pytest

from tests.helpers import run_once
from tsn_jax import convert_torch
from tsn_jax.models import resnet
from tsn_jax.models.tsn import TSN

torch = pytest.importorskip("torch")

from tests.torch_utils import (  # noqa: E402
    assert_logits_close,
    import_mmaction,
    randomize_batch_norm,
)
from tools import torch_models  # noqa: E402

NUM_CLASSES = 5
# mmaction2's non-local TSM-R50 configs (tsm_imagenet-pretrained-r50-nl-*): a block after
# every other residual block of stages 2 and 3.
NON_LOCAL = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))
NON_LOCAL_CFG = {
    "sub_sample": True,
    "use_scale": False,
    "norm_cfg": {"type": "BN3d", "requires_grad": True},
    "mode": "embedded_gaussian",
}


def _recognizer(backbone: dict, head: dict):
    """An eval-mode mmaction2 Recognizer2D with random weights and BatchNorm statistics."""
    import_mmaction()
    from mmaction.registry import MODELS

    torch.manual_seed(0)
    model = MODELS.build(
        {
            "type": "Recognizer2D",
            "backbone": backbone,
            "cls_head": {"num_classes": NUM_CLASSES, "in_channels": 2048, **head},
        }
    ).eval()
    randomize_batch_norm(model)
    return model


def _tsm(depth: int, k: int, temporal_pool: bool = False, **backbone):
    """mmaction2's TSM recognizer (ResNetTSM + TSMHead), K segments."""
    return _recognizer(
        {"type": "ResNetTSM", "depth": depth, "num_segments": k, "pretrained2d": False}
        | backbone
        | {"temporal_pool": temporal_pool},
        {"type": "TSMHead", "num_segments": k, "temporal_pool": temporal_pool},
    )


def _frames(b: int, k: int, size: int = 32) -> np.ndarray:
    """``[B, K, 1, H, W, 3]`` frames, our layout (one RGB frame per snippet)."""
    return np.random.default_rng(0).normal(size=(b, k, 1, size, size, 3)).astype(np.float32)


def _mmaction_logits(recognizer, x: np.ndarray) -> np.ndarray:
    """The recognizer's class scores (the head's output, before any softmax) on x."""
    inputs = torch.from_numpy(np.ascontiguousarray(x[:, :, 0].transpose(0, 1, 4, 2, 3)))
    with torch.no_grad():
        features, kwargs = recognizer.extract_feat(inputs, test_mode=True)
        return recognizer.cls_head(features, **kwargs).numpy()


def _tsn_logits(arch: str, recognizer, backbone: resnet.ResNet, x: np.ndarray) -> np.ndarray:
    """Our TSN's logits with the recognizer's weights (`convert_torchvision(arch, ...)`).

    The converted ResNet's ``fc`` (mmaction2's ``cls_head.fc_cls``) becomes TSN's ``fc``.
    """
    state_dict = torch_models.state_dict_numpy(recognizer)
    variables = convert_torch.convert_torchvision(arch, state_dict)
    params = dict(variables["params"])
    fc = params.pop("fc")
    variables = {
        "params": {"backbone": params, "fc": fc},
        "batch_stats": {"backbone": variables["batch_stats"]},
    }
    model = TSN(backbone=backbone, num_classes=NUM_CLASSES, dropout_rate=0.0)
    return run_once(lambda v, x: model.apply(v, x, train=False), variables, x)


def test_tsn_resnet50_logits_match_mmaction2():
    recognizer = _recognizer(
        {"type": "ResNet", "depth": 50}, {"type": "TSNHead", "consensus": {"type": "AvgConsensus"}}
    )
    x = _frames(2, 2)
    ours = _tsn_logits("mmaction2_tsn_resnet50", recognizer, resnet.resnet50(num_classes=None), x)
    assert_logits_close(ours, _mmaction_logits(recognizer, x))


@pytest.mark.parametrize(
    "shift_place,options",
    [("blockres", {}), ("block", {"shift_inplace": True})],
    ids=["residual_shift", "in_place_shift"],
)
def test_tsm_resnet50_logits_match_mmaction2(shift_place, options):
    # 'blockres' shifts the input of each block's conv1 (the residual branch), 'block' the
    # whole block input (identity too): our residual and in-place shifts.
    recognizer = _tsm(50, 2, shift_place=shift_place)
    x = _frames(2, 2)
    backbone = resnet.resnet50(num_classes=None, num_segments=2, temporal_module="tsm", **options)
    ours = _tsn_logits("mmaction2_tsm_resnet50", recognizer, backbone, x)
    assert_logits_close(ours, _mmaction_logits(recognizer, x))


@pytest.mark.slow
def test_tsm_resnet101_logits_match_mmaction2():
    # ResNetTSM(depth=101) shifts blocks 0, 2, 4, ... of each stage only (the TSM code's
    # n_round); no Chen et al. placement gives that, 'tsm_authors' does.
    recognizer = _tsm(101, 2)
    x = _frames(2, 2)
    backbone = resnet.resnet101(
        num_classes=None, num_segments=2, temporal_module="tsm", temporal_placement="tsm_authors"
    )
    ours = _tsn_logits("mmaction2_tsm_resnet101", recognizer, backbone, x)
    assert_logits_close(ours, _mmaction_logits(recognizer, x))


@pytest.mark.slow
def test_tsm_resnet50_temporal_pool_logits_match_mmaction2():
    # temporal_pool=True max-pools the 4 segments to 2 before layer2 (which then shifts
    # across 2) and TSMHead averages 2 snippet scores: our temporal_pool=(1,).
    recognizer = _tsm(50, 4, temporal_pool=True)
    x = _frames(2, 4)
    backbone = resnet.resnet50(
        num_classes=None, num_segments=4, temporal_module="tsm", temporal_pool=(1,)
    )
    ours = _tsn_logits("mmaction2_tsm_resnet50", recognizer, backbone, x)
    assert_logits_close(ours, _mmaction_logits(recognizer, x))


@pytest.mark.parametrize(
    "cfg",
    [NON_LOCAL_CFG, {"norm_cfg": {"type": "BN3d"}}],
    ids=["mmaction2_config", "mmcv_defaults_use_scale"],
)
def test_non_local_tsm_resnet50_logits_match_mmaction2(cfg):
    # mmaction2's non-local TSM-R50: NonLocal3d over all segments of a video after the
    # flagged blocks. Its sub_sample pools phi and g after their projections; the second
    # case is mmcv's defaults (no sub-sampling, affinities scaled by 1/sqrt(C/2)).
    recognizer = _tsm(50, 2, non_local=NON_LOCAL, non_local_cfg=cfg)
    x = _frames(2, 2)
    backbone = resnet.resnet50(
        num_classes=None,
        num_segments=2,
        temporal_module="tsm",
        non_local=NON_LOCAL,
        non_local_subsample=cfg.get("sub_sample", False),
        non_local_use_scale=cfg.get("use_scale", True),
    )
    ours = _tsn_logits("mmaction2_tsm_resnet50", recognizer, backbone, x)
    assert_logits_close(ours, _mmaction_logits(recognizer, x))


def test_benchmark_tsm_twin_is_mmaction2s_resnet_tsm():
    # tools/benchmark.py's PyTorch TSM-R50 (torchvision's blocks + the shift) holds
    # mmaction2's ResNetTSM weights under torchvision's names and computes its features.
    recognizer = _tsm(50, 2)
    state_dict = convert_torch.rename_keys(
        recognizer.state_dict(), convert_torch.MMACTION2_RESNET_2D
    )
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith("fc.")}
    twin = torch_models.resnet50(num_classes=None, num_segments=2).eval()
    twin.load_state_dict(state_dict)
    x = torch.from_numpy(np.ascontiguousarray(_frames(2, 2)[:, :, 0].reshape(4, 32, 32, 3)))
    x = x.permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        expected = recognizer.backbone(x).mean(dim=(2, 3)).numpy()
        got = twin(x).numpy()
    assert_logits_close(got, expected, scale=float(np.abs(expected).max()))


def _mmaction_batch_norms(recognizer) -> tuple[list[str], list[str]]:
    """(every BatchNorm, those with frozen statistics and scale) of a recognizer in train
    mode, as our `torch_key` names of their scale (``layer1.0.bn1.weight``)."""
    recognizer.train()
    all_bn, frozen = [], []
    for name, module in recognizer.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            key = convert_torch.rename_key(f"{name}.weight", convert_torch.MMACTION2_RESNET_2D)
            all_bn.append(key)
            if not module.training:
                assert not module.weight.requires_grad and not module.bias.requires_grad
                frozen.append(key)
    return sorted(all_bn), sorted(frozen)


@pytest.mark.parametrize("non_local", [(), NON_LOCAL], ids=["plain", "non_local"])
def test_partial_bn_freezes_the_batch_norms_mmaction2_freezes(non_local):
    # mmaction2's ResNet(partial_bn=True) in training: every BatchNorm but the first
    # (conv1's) normalizes with its running averages and gets no updates, except the
    # non-local blocks' (new layers whose zero-initialized scale must train); our
    # 'frozen' partial BN (the TSN code's) picks the same layers.
    from tsn_jax import finetune

    options = {"non_local": non_local, "non_local_cfg": NON_LOCAL_CFG} if non_local else {}
    recognizer = _tsm(50, 2, partial_bn=True, **options)
    all_bn, expected = _mmaction_batch_norms(recognizer)
    model = TSN(
        backbone=resnet.resnet50(
            num_classes=None, num_segments=2, temporal_module="tsm", non_local=non_local
        ),
        num_classes=NUM_CLASSES,
    )
    layout = finetune.model_layout(model, (1, 2, 1, 32, 32, 3))
    fixed = finetune.fixed_statistics_paths(layout, "frozen", [])

    def key(path):
        return convert_torch.torch_key("params", (*path[1:], "scale"))

    assert sorted(key(p) for p in layout.batch_norms) == all_bn
    assert sorted(key(p) for p in fixed) == expected
    params = convert_torch.abstract_variables(model, (1, 2, 1, 32, 32, 3))["params"]
    frozen = finetune.frozen_parameters(params, layout, "frozen", [])
    frozen_scales = [
        key(path[:-1])
        for path, value in flax.traverse_util.flatten_dict(frozen).items()
        if value and path[-1] == "scale"
    ]
    assert sorted(frozen_scales) == expected
