"""Score files, late fusion and the two tools that read them (numpy only, hand numbers)."""

import json
import math
import os

import numpy as np
import pytest

from tsn_jax import contribution, score_files
from tsn_jax.cli import contribution as contribution_cli
from tsn_jax.cli import fuse as fuse_cli
from tsn_jax.score_files import (
    check_same_videos,
    fuse,
    load_scores,
    save_scores,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, ids, labels, logits, names=("a", "b", "c"), **kwargs):
    save_scores(str(path), ids, np.asarray(labels), np.asarray(logits, np.float32), names, **kwargs)
    return str(path)


# --- save / load ---------------------------------------------------------------------------


def test_round_trip(tmp_path):
    ids = ["v_Archery_g01_c01", "vidéo_2", "v3"]
    labels = np.array([0, 2, -1])
    logits = np.arange(9, dtype=np.float32).reshape(3, 3) - 4
    view_logits = np.arange(18, dtype=np.float32).reshape(3, 2, 3)
    protocol = {"views": 2, "crops": ["center"], "checkpoint": "ckpt_100"}
    path = tmp_path / "sub" / "scores.npz"  # the folder is created
    save_scores(str(path), ids, labels, logits, ["x", "y", "z"], view_logits, protocol)

    loaded = load_scores(str(path))
    assert loaded.video_ids.tolist() == ids
    assert loaded.video_ids.dtype.kind == "U"
    assert loaded.labels.tolist() == [0, 2, -1]
    np.testing.assert_array_equal(loaded.logits, logits)
    assert loaded.logits.dtype == np.float32
    np.testing.assert_array_equal(loaded.view_logits, view_logits)
    assert loaded.class_names == ("x", "y", "z")
    assert loaded.protocol == protocol
    assert (loaded.num_videos, loaded.num_classes) == (3, 3)
    with pytest.raises(ValueError):  # read-only: the dataclass is frozen, so are its arrays
        loaded.logits[0, 0] = 1
    # Written exactly at `path`, nothing left beside it.
    assert sorted(os.listdir(tmp_path / "sub")) == ["scores.npz"]


def test_round_trip_without_views_or_protocol(tmp_path):
    path = _write(tmp_path / "s.npz", ["a"], [1], [[0.0, 1.0, 2.0]])
    loaded = load_scores(path)
    assert loaded.view_logits is None
    assert loaded.protocol == {}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(logits=np.zeros((2, 4))), "logits must have shape"),
        (dict(labels=np.array([0, 1, 2])), "labels must have shape"),
        (dict(labels=np.array([0.0, 1.0])), "labels must be integers"),
        (dict(labels=np.array([0, 3])), "labels must be in"),
        (dict(video_ids=["a", "a"]), "unique"),
        (dict(view_logits=np.zeros((2, 3))), "view_logits must have shape"),
        (dict(protocol={"x": object()}), "JSON"),
        (dict(logits=np.array([[0, np.nan, 0], [0, 0, 0]])), "NaN"),
    ],
)
def test_save_validates(tmp_path, kwargs, message):
    args = dict(
        video_ids=["a", "b"], labels=np.array([0, 1]), logits=np.zeros((2, 3)), class_names="xyz"
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        save_scores(str(tmp_path / "s.npz"), **args)
    assert not os.listdir(tmp_path)


def test_load_missing_file_and_keys(tmp_path):
    missing = str(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_scores(missing)
    partial = str(tmp_path / "partial.npz")
    np.savez(partial, video_ids=np.array(["a"]), logits=np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="missing labels, class_names, protocol"):
        load_scores(partial)
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("not a zip")
    with pytest.raises(ValueError, match="garbage.npz"):
        load_scores(str(garbage))


# --- check_same_videos -----------------------------------------------------------------------


def _sf(ids, labels=None, names=("a", "b")):
    labels = np.zeros(len(ids), np.int32) if labels is None else np.asarray(labels, np.int32)
    return score_files.ScoreFile(
        video_ids=np.array(ids), labels=labels, logits=np.zeros((len(ids), len(names))),
        class_names=tuple(names),
    )  # fmt: skip


def test_check_same_videos_accepts_identical():
    check_same_videos([_sf(["a", "b"]), _sf(["a", "b"])], ["rgb.npz", "flow.npz"])


def test_check_same_videos_different_ids():
    with pytest.raises(ValueError) as e:
        check_same_videos([_sf(["a", "b", "c"]), _sf(["a", "x", "y"])], ["rgb.npz", "flow.npz"])
    message = str(e.value)
    assert "2 only in rgb.npz ('b', 'c')" in message
    assert "2 only in flow.npz ('x', 'y')" in message
    assert "order" not in message


def test_check_same_videos_only_order_differs():
    with pytest.raises(ValueError) as e:
        check_same_videos([_sf(["a", "b", "c"]), _sf(["a", "c", "b"])], ["rgb.npz", "flow.npz"])
    message = str(e.value)
    assert "same 3 video ids but in a different order" in message
    assert "rgb.npz" in message and "flow.npz" in message
    assert "position 1: 'b' vs 'c'" in message


def test_check_same_videos_labels_and_classes():
    with pytest.raises(ValueError) as e:
        check_same_videos(
            [_sf(["a", "b"], [0, 1]), _sf(["a", "b"], [0, 0], names=("a", "B"))], ["r", "f"]
        )
    message = str(e.value)
    assert "differ in the labels of 1 videos ('b')" in message
    assert "class names (first at index 1: 'b' vs 'B')" in message


# --- fuse ------------------------------------------------------------------------------------


def test_fuse_score_vs_prob_hand_numbers():
    rgb = np.array([[4.0, 0.0]])
    flow = np.array([[0.0, 2.0]])
    # score: (1 * [4, 0] + 1.5 * [0, 2]) / 2.5 = [1.6, 1.2] -> class 0.
    np.testing.assert_allclose(fuse([rgb, flow], [1, 1.5]), [[1.6, 1.2]], rtol=1e-6)
    # prob: softmax(rgb) = [0.982014, 0.017986], softmax(flow) = [0.119203, 0.880797];
    # (1 * p_rgb + 1.5 * p_flow) / 2.5 = [0.464327, 0.535673] -> class 1; log of it:
    fused = fuse([rgb, flow], [1, 1.5], mode="prob")
    np.testing.assert_allclose(fused, np.log([[0.4643273, 0.5356727]]), rtol=1e-5)
    np.testing.assert_allclose(np.exp(fused).sum(), 1.0, rtol=1e-6)
    assert fused.dtype == np.float32


def test_fuse_prob_stays_finite_where_probabilities_underflow():
    # p = [1, 0] and [0.5, 0.5] -> average [0.75, 0.25]; exp(-2000) underflows but the
    # log-space computation still gives log(0.25) for the second class.
    fused = fuse([np.array([[0.0, -2000.0]]), np.zeros((1, 2))], [1, 1], mode="prob")
    np.testing.assert_allclose(fused, np.log([[0.75, 0.25]]), rtol=1e-6)


def test_fuse_zero_weight_ignores_stream():
    a, b = np.array([[1.0, 2.0]]), np.array([[50.0, -50.0]])
    np.testing.assert_allclose(fuse([a, b], [1, 0]), a)
    np.testing.assert_allclose(
        fuse([a, b], [1, 0], mode="prob"), np.log([[0.2689414, 0.7310586]]), rtol=1e-6
    )


@pytest.mark.parametrize(
    "logits_list, weights, mode, message",
    [
        ([np.zeros((2, 3)), np.zeros((2, 4))], [1, 1], "score", "differ in shape"),
        ([np.zeros((2, 3)), np.zeros((2, 3))], [1], "score", "2 streams but 1 weights"),
        ([np.zeros((2, 3))] * 2, [0, 0], "score", "positive sum"),
        ([np.zeros((2, 3))] * 2, [2, -1], "prob", "non-negative"),
        ([], [], "score", "no streams"),
        ([np.zeros((2, 3))] * 2, [1, 1], "max", "mode"),
    ],
)
def test_fuse_errors(logits_list, weights, mode, message):
    with pytest.raises(ValueError, match=message):
        fuse(logits_list, weights, mode=mode)


# --- tsn-jax-fuse (tsn_jax/cli/fuse.py) -----------------------------------------------------------


def test_fuse_scores_tool_fixes_a_video_both_streams_miss(tmp_path, capsys):
    ids = ["v_a", "v_b", "v_c", "v_d", "v_hard"]
    labels = [0, 1, 2, 0, 2]
    rgb = [
        [3, 0, 0],  # v_a: right
        [1, 0, 0],  # v_b: wrong
        [0, 0, 1],  # v_c: right
        [0, 1, 0],  # v_d: wrong
        [2, 0, 1.5],  # v_hard (label 2): wrong, says 0
    ]  # top1 2/5
    flow = [
        [0, 1, 0],  # wrong
        [0, 3, 0],  # right
        [0, 0, 1],  # right
        [0, 0, 1],  # wrong
        [0, 2, 1.5],  # v_hard: wrong, says 1
    ]  # top1 2/5
    # Fused (1 * rgb + 1.5 * flow) / 2.5:
    #   v_a [3, 1.5, 0] / 2.5 -> 0 right; v_b [1, 4.5, 0] -> 1 right; v_c -> 2 right;
    #   v_d [0, 1, 1.5] -> 2 wrong; v_hard [2, 3, 3.75] -> 2 right.  top1 = 4/5.
    rgb_path = _write(tmp_path / "rgb" / "scores.npz", ids, labels, rgb, protocol={"s": "rgb"})
    flow_path = _write(tmp_path / "flow" / "scores.npz", ids, labels, flow)
    out = str(tmp_path / "fused" / "scores.npz")

    metrics = fuse_cli.main([rgb_path, flow_path, "--weights", "1", "1.5", "--output", out])
    assert metrics["top1"] == 0.8  # 4 / 5 exactly
    assert metrics["num_videos"] == 5
    # per class (fused): class 0 1/2 (v_a right, v_d wrong), class 1 1/1, class 2 2/2.
    assert metrics["mean_class_accuracy"] == pytest.approx((0.5 + 1 + 1) / 3)
    printed = capsys.readouterr().out
    assert "fused (score)" in printed and "80.00" in printed and "40.00" in printed

    fused = load_scores(out)
    assert fused.video_ids.tolist() == ids
    np.testing.assert_allclose(fused.logits[4], [0.8, 1.2, 1.5], rtol=1e-6)
    recorded = fused.protocol["fused_from"]
    assert recorded["weights"] == [1.0, 1.5] and recorded["mode"] == "score"
    assert recorded["inputs"] == [os.path.abspath(rgb_path), os.path.abspath(flow_path)]
    assert recorded["input_protocols"] == [{"s": "rgb"}, {}]

    with open(tmp_path / "fused" / "eval_metrics.json") as f:
        written = json.load(f)
    assert written["top1"] == 0.8
    assert written["streams"][rgb_path]["top1"] == 0.4
    assert written["streams"][flow_path]["top1"] == 0.4


def test_fuse_scores_tool_rejects_mismatched_files(tmp_path):
    a = _write(tmp_path / "a.npz", ["x", "y"], [0, 1], np.zeros((2, 3)))
    b = _write(tmp_path / "b.npz", ["y", "x"], [1, 0], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="different order"):
        fuse_cli.main([a, b])


# --- Chen et al.'s Eq. 1 (tsn_jax/contribution.py, tsn-jax-contribution) -------------------------


def _accuracy_file(path, correct, ids=None):
    """10 videos, 2 classes; the first `correct` videos are right, the rest wrong."""
    ids = ids or [f"video{i}" for i in range(10)]
    labels = np.arange(10) % 2
    predicted = np.where(np.arange(10) < correct, labels, 1 - labels)
    return _write(path, ids, labels, np.eye(2)[predicted], names=("even", "odd"))


def test_spatiotemporal_contribution_hand_numbers(tmp_path, capsys):
    f = lambda name, correct: _accuracy_file(tmp_path / f"{name}.npz", correct)  # noqa: E731
    # Chen et al. Eq. 1: Phi = A_tsn / max(A_model, A_tsn), Psi = (A_model - A_tsn) / (1 - A_tsn):
    #   resnet50, 8:  TSN 0.6, model 0.8 -> Phi 0.75,          Psi 0.2 / 0.4 = 0.5
    #   resnet50, 16: TSN 0.5, model 0.4 -> Phi 0.5 / 0.5 = 1, Psi -0.1 / 0.5 = -0.2
    #   resnet18, 8:  TSN 0.2, model 0.6 -> Phi 1/3,           Psi 0.4 / 0.8 = 0.5
    argv = [
        "--name=TAM",
        f"--pair=backbone=resnet50,frames=8,tsn={f('t50_8', 6)},model={f('m50_8', 8)}",
        f"--pair=model={f('m50_16', 4)},tsn={f('t50_16', 5)},frames=16,backbone=resnet50",
    ]
    csv_path = tmp_path / "pairs.csv"
    csv_path.write_text(f"backbone,frames,tsn,model\nresnet18,8,{f('t18_8', 2)},{f('m18_8', 6)}\n")
    argv += ["--pairs_csv", str(csv_path), "--output", str(tmp_path / "out" / "c.json")]
    results = contribution_cli.main(argv)

    got = {(r["backbone"], r["frames"]): (r["tsn_top1"], r["model_top1"], r["phi"], r["psi"])
           for r in results["pairs"]}  # fmt: skip
    assert got == {
        ("resnet50", 8): (0.6, 0.8, pytest.approx(0.75), pytest.approx(0.5)),
        ("resnet50", 16): (0.5, 0.4, pytest.approx(1.0), pytest.approx(-0.2)),
        ("resnet18", 8): (0.2, 0.6, pytest.approx(1 / 3), pytest.approx(0.5)),
    }
    # Table 7: plain means over the (backbone, frames) pairs.
    # All pairs: Phi (0.75 + 1 + 1/3) / 3 = 25/36, Psi (0.5 - 0.2 + 0.5) / 3 = 0.8/3.
    assert results["mean"]["phi"] == pytest.approx(25 / 36)
    assert results["mean"]["psi"] == pytest.approx(0.8 / 3)
    assert results["mean"]["num_pairs"] == 3
    # resnet50: Phi (0.75 + 1) / 2 = 0.875, Psi (0.5 - 0.2) / 2 = 0.15; resnet18: 1/3, 0.5.
    assert results["per_backbone"]["resnet50"]["phi"] == pytest.approx(0.875)
    assert results["per_backbone"]["resnet50"]["psi"] == pytest.approx(0.15)
    assert results["per_backbone"]["resnet18"]["phi"] == pytest.approx(1 / 3)
    # 8 frames: Phi (0.75 + 1/3) / 2 = 13/24, Psi (0.5 + 0.5) / 2 = 0.5; 16: 1, -0.2.
    assert results["per_frames"][8]["phi"] == pytest.approx(13 / 24)
    assert results["per_frames"][8]["psi"] == pytest.approx(0.5)
    assert results["per_frames"][16]["phi"] == pytest.approx(1.0)
    assert results["per_frames"][16]["psi"] == pytest.approx(-0.2)
    assert "TAM vs TSN" in capsys.readouterr().out
    with open(tmp_path / "out" / "c.json") as fh:
        assert json.load(fh)["mean"]["phi"] == pytest.approx(25 / 36)


def test_spatiotemporal_contribution_on_chen_table5_accuracies():
    # Chen et al. Table 5, Mini-Kinetics, InceptionV1, f=8: TSN ("None") 70.4%, I3D 68.1%.
    # I3D is worse, so Phi = 70.4 / max(68.1, 70.4) = 1 (never above 1, Eq. 1) and
    # Psi = (68.1 - 70.4) / (100 - 70.4) = -2.3 / 29.6.
    phi, psi = contribution.contribution(0.704, 0.681)
    assert phi == 1.0 and psi == pytest.approx(-2.3 / 29.6)
    # ResNet50, f=8: TSN 72.1%, TAM 74.1% -> Phi 72.1 / 74.1, Psi 2.0 / 27.9.
    phi, psi = contribution.contribution(0.721, 0.741)
    assert phi == pytest.approx(72.1 / 74.1) and psi == pytest.approx(2.0 / 27.9)


def test_spatiotemporal_contribution_undefined_and_errors(tmp_path):
    assert contribution.contribution(1.0, 1.0) == (1.0, None)  # TSN perfect: nothing left to gain
    assert contribution.contribution(0.5, 0.0) == (1.0, -1.0)  # the model is worse: Phi is 1
    assert contribution.contribution(0.0, 0.0) == (None, 0.0)  # both at 0: Phi undefined
    phi, psi = contribution.contribution(0.6, 0.8)
    assert math.isclose(phi, 0.75) and math.isclose(psi, 0.5)

    tsn = _accuracy_file(tmp_path / "tsn.npz", 5)
    other_ids = [f"other{i}" for i in range(10)]
    model = _accuracy_file(tmp_path / "model.npz", 5, ids=other_ids)
    with pytest.raises(ValueError, match="differ in video ids"):
        contribution_cli.main([f"--pair=backbone=r50,frames=8,tsn={tsn},model={model}"])
    with pytest.raises(ValueError, match="missing model"):
        contribution.parse_pair(f"backbone=r50,frames=8,tsn={tsn}")
    with pytest.raises(SystemExit):  # the same backbone and frames twice
        contribution_cli.main([f"--pair=backbone=r50,frames=8,tsn={tsn},model={tsn}"] * 2)
