"""tsn_jax.metrics: the one implementation of accuracies, loss and softmax."""

import math

import numpy as np
import pytest

from tsn_jax import metrics


def test_loss_per_class_and_groups_by_hand():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    labels = np.array([0, 0, metrics.UNKNOWN_LABEL])  # the unknown video is left out
    result = metrics.classification_metrics(
        logits, labels, ("a", "b", "c"), {"first": ("a",), "rest": ("b", "c")}
    )
    # -log softmax: video 0: log(e^2 + 2) - 2; video 1: log(e + 2).
    loss = (math.log(math.e**2 + 2) - 2 + math.log(math.e + 2)) / 2
    assert math.isclose(result["loss"], loss, rel_tol=1e-12)
    assert (result["top1"], result["top5"], result["num_videos"]) == (0.5, 1.0, 2)
    assert result["per_class_accuracy"] == {"a": 0.5, "b": None, "c": None}
    assert result["group_accuracy"] == {"first": 0.5, "rest": None}
    assert result["mean_class_accuracy"] == 0.5


def test_ties_rank_the_lower_class_first():
    assert metrics.ranking(np.array([[1.0, 3.0, 3.0, 1.0]]), 4).tolist() == [[1, 2, 0, 3]]
    tied = metrics.classification_metrics(np.zeros((2, 3)), np.array([0, 1]))
    assert tied["top1"] == 0.5  # both predict class 0


def test_softmax_is_stable_and_normalized():
    x = np.array([[1000.0, 0.0], [-1000.0, -1000.0]])
    np.testing.assert_allclose(metrics.softmax(x), [[1.0, 0.0], [0.5, 0.5]])
    np.testing.assert_allclose(metrics.log_softmax(x)[1], np.log([0.5, 0.5]))


def test_bad_labels_are_errors():
    with pytest.raises(ValueError, match="labels must be in"):
        metrics.classification_metrics(np.zeros((1, 2)), np.array([2]))
    with pytest.raises(ValueError, match="no labelled videos"):
        metrics.classification_metrics(np.zeros((1, 2)), np.array([-1]))


def test_accuracies_by_hand():
    # 6 classes, so top-5 is a real top-5. Ties rank the lower class index first.
    logits = np.array(
        [
            [9, 0, 0, 0, 0, 0],  # label 0: top-1 hit
            [0, 0, 0, 0, 0, 0],  # label 0: all tied -> class 0 first: top-1 hit
            [5, 4, 3, 2, 1, 0],  # label 0: top-1 hit
            [1, 0, 0, 0, 0, 0],  # label 1: ranks 0, 1, ... -> 2nd: top-5 hit only
            [0, 0, -1, 0, 0, 0],  # label 2: ranked last (6th): miss
            [0, 0, 0, 0, 0, 9],  # label -1 (unknown): not counted
        ],
        np.float32,
    )
    labels = np.array([0, 0, 0, 1, 2, -1])
    result = metrics.classification_metrics(logits, labels)
    # top1 = 3/5; top5 = 4/5; per class: class 0 3/3, class 1 0/1, class 2 0/1 -> mean 1/3.
    assert {k: result[k] for k in ("top1", "top5", "mean_class_accuracy", "num_videos")} == {
        "top1": pytest.approx(0.6),
        "top5": pytest.approx(0.8),
        "mean_class_accuracy": pytest.approx(1 / 3),
        "num_videos": 5,
    }


def test_top5_with_fewer_than_five_classes():
    # k = min(5, N) = 2: every label is in the top-2 of 2 classes.
    result = metrics.classification_metrics(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0, 1]))
    assert result["top1"] == 0.5 and result["top5"] == 1.0


def test_printed_metrics_have_four_significant_digits():
    from tsn_jax import reports

    summary = {"top1": 0.9166666666666666, "step": 750, "mAP": 0.82234, "loss": 1.0}
    assert reports.format_metrics(summary, ("step", "top1", "mAP", "loss", "clip_top1")) == (
        "step=750, top1=0.9167, mAP=0.8223, loss=1, clip_top1=None"
    )
    assert reports.format_number(0.925) == "0.925" and reports.format_number(None) == "None"
