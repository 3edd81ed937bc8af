"""What the TSN studies share: plain TSN on the demo videos with stored Farneback flow.

Not a study itself (the leading underscore keeps it out of the shipped list).
"""

import ml_collections

from configs import tsn_rgb_demo

# A flow stream as TSN trains it: 5 stacked fields a snippet (TPAMI Sec. 3.2).
FLOW = {"data.modality": "flow", "data.frames_per_snippet": 5}


def tsn_config(flow_types: tuple[str, ...]) -> ml_collections.ConfigDict:
    """`tsn_rgb_demo` (plain TSN, ResNet-18 from scratch, the demo's 50 epochs) at quarter
    width, with `flow_types` ('flow', 'warp') stored as Farneback flow (the same planes as
    TV-L1, 1/27 of the time), evaluated once at the end."""
    config = tsn_rgb_demo.get_config()
    config.dataset.flow_method = "farneback"
    config.dataset.flow_types = flow_types
    config.model.base_width = 16
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 1000
    return config
