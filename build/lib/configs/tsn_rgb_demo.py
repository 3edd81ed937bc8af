"""Plain TSN (RGB, ResNet-18) on the embedded demo videos: the contrast to default.py.

The same data, schedule and network as `default.py` without the temporal shift, i.e.
TSN as in Wang et al. (ECCV 2016): 3 segments of one RGB frame, a shared 2D ResNet-18
and average consensus of the snippet logits. Averaging per-frame scores cannot tell the
demo's order-dependent classes apart (left vs right, grow vs shrink, A-then-B vs
B-then-A), so expect those near chance (50% within a pair) and the appearance classes
high; see the README for the measured figures.
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
    """default.py without a temporal module."""
    config = default.get_config()
    config.model.backbone_options = ml_collections.ConfigDict()
    return config
