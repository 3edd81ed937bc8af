"""TSN on the untrimmed demo videos: top-k consensus in training, M-TWI at test.

The untrimmed setting of Wang et al., "Temporal Segment Networks for Action Recognition
in Videos" (TPAMI 2018, Secs. 3.3 and 4.2) on `synthetic_actions_untrimmed`: videos of
20 to 40 s at 4 frames a second, each holding one action instance of one of the demo's
ten classes that fills a quarter to three quarters of it; the rest of the video is the
same scene (photo, camera pan, distractors) without it
(`input_pipeline/datasets/synthetic_actions.py`; where each instance is:
`annotations.json` in the video folder).

Training reads whole videos with their video-level label: K = 7 segments of one RGB
frame (TPAMI Table 5's K), so most snippets show background, and the consensus takes the
mean of the k = 3 highest snippet scores of each class (top-k pooling, gradient Eq. 6;
"TSN-Top3" of TPAMI Table 7) rather than the average. The test is M-TWI (Sec. 4.2): one
snippet a second over the whole video, windows of 1, 2, 4, 8 and 16 s sliding by 0.8 of
their length, each scored by the max of its snippets (Eq. 13), top-k over the windows of
a length with k = max(15, ceil(N^l / 4)) (at most the windows), mean over the lengths;
reported as mAP (Sec. 5.1's metric for untrimmed video) with top-1 beside it in
eval_metrics.json.

Departures for a 2-core CPU, as in `default.py`: 64-pixel crops of frames stored at
short side 80, a quarter-width ResNet-18 from scratch (base_width 16), dropout 0.5, a
learning rate of 0.01; no horizontal flips (a flipped MoveLeft is a MoveRight). The
TSN code trains ActivityNet on the annotated instances cut out of the videos; here the
whole videos are the training set, the weakly labelled case the top-k and attention
consensus functions are meant for (Sec. 3.3). `configs/studies/tsn_consensus.py`
compares the five consensus functions and three tests on this config.

  python main.py --config=configs/tsn_untrimmed_demo.py --workdir=runs/untrimmed
"""

import ml_collections

from configs import tsn_rgb_demo


def get_config() -> ml_collections.ConfigDict:
    """Plain TSN (`tsn_rgb_demo.py`) on the untrimmed demo: K = 7, top-3 consensus, M-TWI."""
    config = tsn_rgb_demo.get_config()
    config.dataset.name = "synthetic_actions_untrimmed"
    config.dataset.num_train_per_class = 30
    config.dataset.num_test_per_class = 10
    config.model.base_width = 16
    config.data.num_segments = 7
    config.model.consensus = "topk"
    config.model.consensus_k = 3
    config.eval.sampling = "per_second"
    config.eval.aggregate = "mtwi"
    config.eval.crops = "centre"
    config.num_epochs = 50
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 200
    return config
