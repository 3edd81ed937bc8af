"""Studies (tsn_jax.studies): overrides, the run layout, fused cells, seeds and verdicts
on hand-made score files, and every shipped study end to end with 2 steps a run."""

import datetime
import glob
import json
import os
import re

import ml_collections
import numpy as np
import pytest

from configs.studies import _chen_demo
from tests.helpers import abstract_init, tiny_config
from tsn_jax import checkpoints, models, runner, runs, score_files, studies
from tsn_jax.cli import study as study_cli
from tsn_jax.errors import ConfigError

STUDY_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "studies")
SHIPPED = sorted(glob.glob(os.path.join(STUDY_DIR, "[!_]*.py")))
NAMES = ("a0", "a1", "b0", "b1")  # appearance classes a*, order classes b*
GROUPS = {"appearance": ["a0", "a1"], "order": ["b0", "b1"]}


def _base() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.num_train_steps = -1
    config.data = ml_collections.ConfigDict({"snippet_stride": 0})
    return config


def _toy_study(**kwargs) -> studies.Study:
    fields = dict(
        name="toy",
        title="Toy",
        citation="Nobody, 2026, Table 1",
        base_config=_base,
        runs={"x": {}, "y": {"data.snippet_stride": 2}},
        rows=("row",),
        columns=("X", "Y", "X+Y"),
        cells={
            ("row", "X"): studies.Cell(("x",), paper=0.5),
            ("row", "Y"): studies.Cell(("y",)),
            ("row", "X+Y"): studies.Cell(("x", "y"), (1.0, 3.0)),
        },
        findings=(
            studies.Finding("Y beats X", ("row", "Y"), ("row", "X")),
            studies.Finding("Y beats X on order", ("row", "Y"), ("row", "X"), "order"),
        ),
    )
    fields.update(kwargs)
    return studies.Study(**fields)


def test_overrides_set_dotted_keys_on_a_copy_and_name_a_mistyped_key():
    base = _base()
    config = studies.apply_overrides(base, {"data.snippet_stride": 3, "seed": 4})
    assert (config.data.snippet_stride, config.seed) == (3, 4)
    assert (base.data.snippet_stride, base.seed) == (0, 0)
    with pytest.raises(ConfigError, match="'data.snippet_strid'.*'snippet_strid'"):
        studies.apply_overrides(base, {"data.snippet_strid": 3})
    with pytest.raises(ConfigError, match="no 'dta'"):
        studies.apply_overrides(base, {"dta.snippet_stride": 3})


def test_run_configs_and_folders_per_seed():
    study = _toy_study()
    config = studies.run_config(study, "/r", "y", 2, num_train_steps=5, common={"seed": 10})
    assert (config.data.snippet_stride, config.seed, config.num_train_steps) == (2, 12, 5)
    assert studies.run_dir("/r", "y", 0) == os.path.join("/r", "y")
    assert studies.run_dir("/r", "y", 2) == os.path.join("/r", "y.seed2")


def test_a_study_that_names_what_it_does_not_have_is_an_error():
    with pytest.raises(ValueError, match="names runs"):
        _toy_study(cells={("row", "X"): studies.Cell(("z",))})
    with pytest.raises(ValueError, match="not in the table"):
        _toy_study(cells={("other", "X"): studies.Cell(("x",))})
    with pytest.raises(ValueError, match="not measured"):
        _toy_study(findings=(studies.Finding("?", ("row", "Z"), ("row", "X")),))
    with pytest.raises(ValueError, match="metric"):
        _toy_study(findings=(studies.Finding("?", ("row", "Y"), ("row", "X"), "top-1"),))
    with pytest.raises(ValueError, match="contribution Y cell.*not measured"):
        _toy_study(
            contributions=(studies.Contribution("Y", "ta", ((("row", "X"), ("row", "Z")),)),)
        )


@pytest.mark.parametrize(
    "difference, spread, verdict",
    [
        (0.02, 0.01, "reproduced"),
        (0.01, 0.02, "within the spread"),
        (-0.03, 0.02, "opposite"),
        (0.01, None, "same direction (1 seed: spread not measured)"),
        (0.0, None, "no difference"),
        (-0.01, None, "opposite"),
    ],
)
def test_a_finding_is_reproduced_only_beyond_the_spread(difference, spread, verdict):
    assert studies.judge(difference, spread) == verdict


def _one_hot_scores(workdir: str, predictions: list[int]) -> None:
    """scores.npz of 4 videos (labels 0..3) whose logits pick `predictions`."""
    logits = np.full((4, 4), -1.0, np.float32)
    logits[np.arange(4), predictions] = 1.0
    os.makedirs(workdir, exist_ok=True)
    score_files.save_scores(
        os.path.join(workdir, "scores.npz"),
        [f"v{i}" for i in range(4)],
        np.arange(4),
        logits,
        NAMES,
        protocol={"class_groups": GROUPS},
    )


def test_cells_fuse_their_runs_and_seeds_give_mean_and_spread(tmp_path, monkeypatch):
    """Run x gets 2 of 4 videos right under seed 0 and 1 under seed 1; run y 3 and 4.
    The fused cell (x:y = 1:3) follows y where they disagree."""
    predictions = {
        ("x", 0): [0, 1, 0, 0],
        ("x", 1): [0, 0, 0, 0],
        ("y", 0): [0, 1, 2, 0],
        ("y", 1): [0, 1, 2, 3],
    }
    trained = []

    def fake_train(config, workdir):
        run = os.path.basename(workdir).split(".")[0]
        seed = int(config.seed)
        trained.append((run, seed))
        _one_hot_scores(workdir, predictions[(run, seed)])
        return {}

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    monkeypatch.setattr(studies, "validate_config", lambda config: None)
    root = str(tmp_path / "toy")
    results = studies.run_study(_toy_study(), root, seeds=2, log=lambda line: None)
    assert sorted(trained) == sorted(predictions)
    cells = {c["column"]: c for c in results["cells"]}
    assert cells["X"]["top1"] == [0.5, 0.25] and cells["Y"]["top1"] == [0.75, 1.0]
    assert cells["X"]["top1_mean"] == pytest.approx(0.375)
    assert cells["X"]["top1_spread"] == pytest.approx(np.std([0.5, 0.25], ddof=1))
    assert cells["X+Y"]["top1"] == [0.75, 1.0]
    # Groups: x seed 0 gets a0 and a1 right, no order class.
    assert cells["X"]["appearance_mean"] == pytest.approx(0.75)
    assert cells["X"]["order_mean"] == pytest.approx(0.0)
    top1, order = results["findings"]
    assert top1["difference"] == pytest.approx(0.5)
    assert top1["verdict"] == "reproduced"  # differences 0.25 and 0.75: 0.5 > 0.354
    # Order classes: x gets none right; y 1 of 2, then 2 of 2.
    assert order["difference"] == pytest.approx(0.75) and order["verdict"] == "reproduced"
    table = open(os.path.join(root, "results.md")).read()
    assert "| row | 37.5 ± 17.7 (50.0) | 87.5 ± 17.7 | 87.5 ± 17.7 |" in table
    assert "- Y beats X: +50.0 points, spread 35.4: **reproduced**" in table
    assert "- Y beats X on order (order classes): +75.0 points, spread 35.4" in table
    assert json.load(open(os.path.join(root, "results.json")))["seeds"] == 2
    assert os.path.getsize(os.path.join(root, "results.png")) > 0
    today, machine = datetime.date.today().isoformat(), re.escape(results["machine"])
    assert re.search(
        rf"Runs trained {today} on {machine}, in 0:00:0\d summed over the 4 runs \(training "
        rf"and its test\)\. Summarized {today} on {machine}; this invocation took 0:00:\d\d\.",
        table,
    )

    # A rerun trains nothing; a run whose config changed since is an error.
    for run, seed in predictions:
        path = os.path.join(studies.run_dir(root, run, seed), studies.RUN_RECORD)
        assert os.path.exists(path)
    trained.clear()
    # Runs recorded before records held times count as untimed, dated by their file.
    old_record = os.path.join(studies.run_dir(root, "y", 1), studies.RUN_RECORD)
    config = json.load(open(old_record))["config"]
    with open(old_record, "w") as f:
        json.dump({"config": config}, f)
    os.utime(old_record, (0, datetime.datetime(2026, 1, 2, 12).timestamp()))
    studies.run_study(_toy_study(), root, seeds=2, log=lambda line: None)
    assert trained == []
    # Nothing trained or tested: the rerun reports no time of its own.
    assert re.search(
        rf"Runs trained 2026-01-02 to {today} on {machine}, in 0:00:0\d summed over 3 of the "
        rf"4 runs \(training and its test\); 1 of the runs recorded no time or machine\. "
        rf"Summarized {today} on {machine}\.\n",
        open(os.path.join(root, "results.md")).read(),
    )
    changed = _toy_study(runs={"x": {}, "y": {"data.snippet_stride": 3}})
    with pytest.raises(ConfigError, match="y.*another config"):
        studies.run_study(changed, root, seeds=2, log=lambda line: None)
    assert trained == []


def test_an_interrupted_run_resumes_only_under_the_config_it_started_with(tmp_path, monkeypatch):
    """Run y has checkpoints but no study record (the study was stopped while it trained):
    a study whose y has changed since is refused before any run trains; the study as it
    was resumes y."""
    trained = []

    def fake_train(config, workdir):
        trained.append(os.path.basename(workdir))
        _one_hot_scores(workdir, [0, 1, 2, 3])
        return {}

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    monkeypatch.setattr(studies, "validate_config", lambda config: None)
    root = str(tmp_path / "toy")
    study = _toy_study()
    manager = checkpoints.create_manager(
        os.path.join(studies.run_dir(root, "y", 0), "checkpoints"), save_every_steps=1, keep=1
    )
    info = runs.run_info(studies.run_config(study, root, "y", 0), NAMES)
    manager.save(2, args=checkpoints.save_args({"step": 2, "w": np.zeros(3)}, info))
    manager.wait_until_finished()
    manager.close()

    changed = _toy_study(runs={"x": {}, "y": {"data.snippet_stride": 3}})
    with pytest.raises(ConfigError, match=r"toy/y holds a run trained to step 2 with another "
                       r"config \(data.snippet_stride: trained with 2, now 3\)"):  # fmt: skip
        studies.run_study(changed, root, log=lambda line: None)
    assert trained == []
    studies.run_study(study, root, log=lambda line: None)
    assert trained == ["x", "y"]
    # y's time counts from step 2: its record and the table say so.
    record = json.load(open(os.path.join(studies.run_dir(root, "y", 0), studies.RUN_RECORD)))
    assert record["resumed_from_step"] == 2
    x_record = os.path.join(studies.run_dir(root, "x", 0), studies.RUN_RECORD)
    assert "resumed_from_step" not in json.load(open(x_record))
    assert re.search(
        r"summed over the 2 runs \(training and its test\), 1 of which resumed an "
        r"interrupted run: their time before that is not counted\. Summarized",
        open(os.path.join(root, "results.md")).read(),
    )


def test_a_finding_pairs_its_cells_by_seed(tmp_path, monkeypatch):
    """x gets 1, 3, 2 of 4 videos right under seeds 0-2, y one more each time: the
    cells' spreads over seeds are large (0.25 each), the per-seed difference is always
    0.25, so the finding is reproduced (two summed spreads, 0.5, would have hidden it)."""
    predictions = {
        ("x", 0): [0, 0, 0, 0], ("x", 1): [0, 1, 2, 0], ("x", 2): [0, 1, 0, 0],
        ("y", 0): [0, 1, 0, 0], ("y", 1): [0, 1, 2, 3], ("y", 2): [0, 1, 2, 0],
    }  # fmt: skip

    def fake_train(config, workdir):
        run = os.path.basename(workdir).split(".")[0]
        _one_hot_scores(workdir, predictions[(run, int(config.seed))])

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    monkeypatch.setattr(studies, "validate_config", lambda config: None)
    study = _toy_study(findings=(studies.Finding("Y beats X", ("row", "Y"), ("row", "X")),))
    results = studies.run_study(study, str(tmp_path / "toy"), seeds=3, log=lambda line: None)
    cells = {c["column"]: c for c in results["cells"]}
    assert cells["X"]["top1_spread"] == pytest.approx(0.25)
    assert cells["Y"]["top1_spread"] == pytest.approx(0.25)
    (finding,) = results["findings"]
    assert finding["difference"] == pytest.approx(0.25)
    assert finding["spread"] == pytest.approx(0.0)
    assert finding["verdict"] == "reproduced"


def test_phi_and_psi_of_eq_1_per_class_group(tmp_path, monkeypatch):
    """TSN (run x) gets both appearance videos, no order video; the model (run y) both
    appearance videos and one order video. Chen et al.'s Eq. 1 on each group: Phi =
    S_TSN / max(S, S_TSN), Psi = (S - S_TSN) / (1 - S_TSN), undefined where TSN is perfect."""
    predictions = {"x": [0, 1, 0, 0], "y": [0, 1, 2, 0]}

    def fake_train(config, workdir):
        _one_hot_scores(workdir, predictions[os.path.basename(workdir)])
        return {}

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    monkeypatch.setattr(studies, "validate_config", lambda config: None)
    pair = (("row", "X"), ("row", "Y"))
    study = _toy_study(
        contributions=(studies.Contribution("Y", "ta", (pair,), {"order": (0.6, 0.4)}),)
    )
    root = str(tmp_path / "toy")
    results = studies.run_study(study, root, log=lambda line: None)
    got = {e["metric"]: (e["phi_mean"], e["psi_mean"]) for e in results["contributions"]}
    assert got["top1"] == pytest.approx((0.5 / 0.75, (0.75 - 0.5) / (1 - 0.5)))
    assert got["appearance"] == (1.0, None)  # both perfect: Psi is 0 / 0
    assert got["order"] == (0.0, 0.5)
    table = open(os.path.join(root, "results.md")).read()
    assert "| all (top-1) | Φ (ta) | 0.67 |" in table
    assert "| order | Φ (ta) | 0.00 (0.60) |" in table
    assert "| order | Ψ (ta) | 0.50 (0.40) |" in table
    assert "| appearance | Ψ (ta) | - |" in table


def test_a_study_of_untrimmed_video_reports_map_per_class_group(tmp_path, monkeypatch):
    """Run x's videos score permutations of the same values (so their softmax ranks the
    videos as the scores do) such that the classes' average precisions are 1, 1/4, 1/2
    and 1 (mAP 0.6875; appearance a0, a1: 0.625; order b0, b1: 0.75); run y is perfect."""
    ranked = np.array(
        [[3.0, 1.0, 0.0, 2.0], [2.0, 0.0, 3.0, 1.0], [0.0, 3.0, 2.0, 1.0], [1.0, 2.0, 0.0, 3.0]],
        np.float32,
    )

    def fake_train(config, workdir):
        os.makedirs(workdir, exist_ok=True)
        logits = ranked if os.path.basename(workdir) == "x" else np.eye(4, dtype=np.float32)
        path = os.path.join(workdir, "scores.npz")
        videos = [f"v{i}" for i in range(4)]
        groups = {"class_groups": GROUPS}
        score_files.save_scores(path, videos, np.arange(4), logits, NAMES, protocol=groups)

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    monkeypatch.setattr(studies, "validate_config", lambda config: None)
    root = str(tmp_path / "toy")
    study = _toy_study(metric="mAP")
    results = studies.run_study(study, root, log=lambda line: None)
    cells = {c["column"]: c for c in results["cells"]}
    assert results["metric"] == "mAP" and "top1" not in cells["X"]
    assert cells["X"]["mAP"] == [pytest.approx((1 + 1 / 4 + 1 / 2 + 1) / 4)]
    assert cells["X"]["appearance_mean"] == pytest.approx(0.625)
    assert cells["X"]["order_mean"] == pytest.approx(0.75)
    assert cells["Y"]["mAP_mean"] == 1.0
    assert results["findings"][0]["difference"] == pytest.approx(1 - 0.6875)
    table = open(os.path.join(root, "results.md")).read()
    assert "Mean average precision over the classes (%)" in table
    assert "| row | 68.8 (50.0) | 100.0 |" in table
    assert "- Y beats X: +31.2 points" in table
    with pytest.raises(ValueError, match="metric 'top5'"):
        _toy_study(metric="top5")


def _study_with_video_test(**kwargs) -> studies.Study:
    def base():
        config = _base()
        config.eval = ml_collections.ConfigDict({"crops": "centre", "output_dir": ""})
        return config

    fields = dict(
        name="views",
        title="Views",
        citation="Nobody, 2026, Table 2",
        base_config=base,
        runs={"x": {}},
        rows=("clip", "video"),
        columns=("X",),
        cells={
            ("clip", "X"): studies.Cell(("x",)),
            ("video", "X"): studies.Cell(("x",), evaluation="video"),
        },
        evaluations={"video": {"eval.crops": "three"}},
    )
    return studies.Study(**{**fields, **kwargs})


def test_a_second_test_protocol_runs_once_per_run_and_fills_its_cells(tmp_path, monkeypatch):
    trained, evaluated = [], []

    def fake_train(config, workdir):
        trained.append(os.path.basename(workdir))
        _one_hot_scores(workdir, [0, 1, 0, 0])  # the clip test: 2 of 4

    def fake_evaluate(config, workdir):
        evaluated.append((os.path.basename(workdir), config.eval.crops, config.eval.output_dir))
        _one_hot_scores(config.eval.output_dir, [0, 1, 2, 3])  # 3 crops: 4 of 4

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    monkeypatch.setattr(runner, "evaluate", fake_evaluate)
    monkeypatch.setattr(studies, "validate_config", lambda config: None)
    root = str(tmp_path / "views")
    results = studies.run_study(_study_with_video_test(), root, log=lambda line: None)
    assert trained == ["x"]
    assert evaluated == [("x", "three", os.path.join(root, "x", "video"))]
    top1 = {c["row"]: c["top1_mean"] for c in results["cells"]}
    assert top1 == {"clip": 0.5, "video": 1.0}
    # Finished runs and evaluations are skipped; a missing evaluation alone is redone.
    studies.run_study(_study_with_video_test(), root, log=lambda line: None)
    assert len(trained) == 1 and len(evaluated) == 1
    os.remove(os.path.join(root, "x", "video", studies.EVALUATION_RECORD))
    studies.run_study(_study_with_video_test(), root, log=lambda line: None)
    assert len(trained) == 1 and len(evaluated) == 2
    # A protocol changed since is tested again, on the same checkpoint.
    ten = _study_with_video_test(evaluations={"video": {"eval.crops": "ten"}})
    studies.run_study(ten, root, log=lambda line: None)
    assert len(trained) == 1 and evaluated[-1][1] == "ten"
    with pytest.raises(ValueError, match="evaluation 'tencrop', which the study does not"):
        _study_with_video_test(cells={("video", "X"): studies.Cell(("x",), evaluation="tencrop")})
    with pytest.raises(ValueError, match="may set only eval"):
        _study_with_video_test(evaluations={"video": {"data.num_segments": 2}})


def test_a_run_starts_from_an_earlier_run_of_the_same_seed(tmp_path, monkeypatch):
    def base():
        config = _base()
        config.init = ml_collections.ConfigDict({"checkpoint": ""})
        return config

    runs = {"pre": {}, "ft": {"init.checkpoint": studies.FromRun("pre")}}
    study = _toy_study(
        base_config=base, runs=runs, columns=("X",), cells={("row", "X"): studies.Cell(("ft",))},
        findings=(),
    )  # fmt: skip
    checked, trained = [], []
    monkeypatch.setattr(studies, "validate_config", lambda c: checked.append(c.init.checkpoint))

    def fake_train(config, workdir):
        trained.append((os.path.basename(workdir), config.init.checkpoint))
        _one_hot_scores(workdir, [0, 1, 2, 3])

    monkeypatch.setattr(runner, "train_and_evaluate", fake_train)
    root = str(tmp_path / "toy")
    studies.run_study(study, root, seeds=2, log=lambda line: None)
    pre = os.path.abspath(os.path.join(root, "pre"))
    assert trained == [("pre", ""), ("ft", pre), ("pre.seed1", ""), ("ft.seed1", pre + ".seed1")]
    # Checked before any training without the checkpoint that is not trained yet ...
    assert checked == ["", "", "", ""]
    # ... and with it once it is.
    checked.clear()
    studies.run_study(study, root, seeds=2, log=lambda line: None)
    assert checked == ["", pre, "", pre + ".seed1"]
    with pytest.raises(ValueError, match="'ft' sets init.checkpoint from run 'pre', which is not"):
        _toy_study(base_config=base, runs=dict(reversed(runs.items())))


def test_the_command_line_reads_set_values_and_reports_a_missing_study(tmp_path):
    with pytest.raises(SystemExit, match="no study file"):
        study_cli.main([str(tmp_path / "nope.py")])
    with pytest.raises(SystemExit):
        study_cli.main([SHIPPED[0], "--set", "no_equals_sign"])


def test_studies_are_shipped_and_cite_their_table():
    names = [os.path.basename(p) for p in SHIPPED]
    assert names == [
        "chen_aggregation.py", "chen_aggregation_inception.py",
        "chen_aggregation_nonlocal.py", "chen_pooling.py", "hara_augmentation.py",
        "hara_finetuning.py", "tsn_consensus.py",
        "tsn_modalities.py", "tsn_sampling.py", "tsn_training.py",
    ]  # fmt: skip
    for path in SHIPPED:
        study = studies.load_study(path)
        assert re.search(r"(Table [IV\d]+|Fig\. \d)\b", study.citation) and study.notes
        figures = [cell.paper for cell in study.cells.values() if cell.paper is not None]
        assert all(0 < figure < 1 for figure in figures)
        ratios = [v for c in study.contributions for pair in c.paper.values() for v in pair]
        assert all(-1 < v <= 1 for v in ratios if v is not None)
        # Fig. 2 of Hara et al. is only plotted; a study of a table prints its figures
        # (Chen et al.'s by class group, in the Phi / Psi table).
        assert bool(figures or ratios) == ("Table" in study.citation)


def test_chen_conv_is_the_s3d_resnet18_over_the_segments_as_one_clip():
    """Table 5's "Conv." (Sec. 6.3): Chen et al.'s S3D-ResNet18, the K frames one clip,
    strided in time only as the -tp variant; there is none on InceptionV1 here."""
    conv = _chen_demo.model_overrides("Conv.", "ResNet18", temporal_pool=False)
    assert (conv["model.backbone"], conv["model.segments_as_clip"]) == ("s3d_resnet18", True)
    assert tuple(conv["model.backbone_options"].temporal_strides) == (1, 1, 1, 1)
    pooled = _chen_demo.model_overrides("Conv.", "ResNet18", temporal_pool=True)
    assert tuple(pooled["model.backbone_options"].temporal_strides) == (1, 2, 2, 2)
    with pytest.raises(ValueError, match="'Conv.' is built on"):
        _chen_demo.model_overrides("Conv.", "InceptionV1", temporal_pool=False)


def test_chen_nln_is_tsn_resnet18_with_non_local_blocks_in_layer2_and_layer3():
    """Table 5's NLN (Sec. 6.3): TSN-ResNet18 with a non-local block after every other
    block of stages 2 and 3 (one each here), the other runs `chen_aggregation`'s."""
    nonlocal_study = studies.load_study(os.path.join(STUDY_DIR, "chen_aggregation_nonlocal.py"))
    table_5 = studies.load_study(os.path.join(STUDY_DIR, "chen_aggregation.py"))
    assert list(nonlocal_study.runs) == ["tsn_f4", "tam_f4", "nln_f4", "tsn_f8", "tam_f8", "nln_f8"]
    for run in ("tsn_f4", "tam_f4", "tsn_f8", "tam_f8"):
        assert nonlocal_study.runs[run] == table_5.runs[run]
    config = studies.run_config(nonlocal_study, "/r", "nln_f4", 0)
    model = models.create_model(config.model, 10, config.data.num_segments)
    variables = abstract_init(model, models.input_shape_of(model, config.data))
    backbone = variables["params"]["backbone"]
    assert sorted(k for k in backbone if k.endswith("_non_local")) == [
        "layer2_0_non_local",
        "layer3_0_non_local",
    ]
    assert (model.backbone.non_local_subsample, model.backbone.non_local_use_scale) == (True, False)
    assert [f.text for f in nonlocal_study.findings] == [
        "TAM beats TSN on the order classes (Mini-SSV2)",
        "TAM beats TSN on the appearance classes (Mini-Kinetics)",
        "NLN beats TSN on the order classes (Mini-SSV2)",
        "NLN beats TSN on the appearance classes (Mini-Kinetics)",
        "TAM beats NLN under uniform sampling",
        "TAM beats NLN on the order classes (Mini-SSV2)",
    ]
    with pytest.raises(ValueError, match="'NLN' is built on"):
        _chen_demo.model_overrides("NLN", "InceptionV1", temporal_pool=False)


def test_chen_table_5_on_inception_is_chen_pooling_at_8_frames():
    """Table 5's InceptionV1 columns: the 8-frame runs are Fig. 6's runs without temporal
    pooling but for the frame count (the 4-frame ones are Fig. 6's, as the docstring says)."""
    table_5 = studies.load_study(os.path.join(STUDY_DIR, "chen_aggregation_inception.py"))
    fig_6 = studies.load_study(os.path.join(STUDY_DIR, "chen_pooling.py"))

    def plain(overrides):
        return {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in overrides.items()}

    assert list(table_5.runs) == ["tsn_f8", "i3d_f8", "tam_f8"]
    for arch in ("tsn", "i3d", "tam"):
        assert plain(table_5.runs[f"{arch}_f8"]) == {
            **plain(fig_6.runs[f"{arch}_inc"]),
            "data.num_segments": 8,
        }
    with pytest.raises(ValueError, match="first column is TSN"):
        _chen_demo.aggregation_study("x", "InceptionV1", ("TAM", "TSN"), (8,), "")
    # Only the findings between the architectures it runs (no TSM, no Conv.).
    assert [f.text for f in table_5.findings] == [
        "TAM beats TSN on the order classes (Mini-SSV2)",
        "I3D beats TSN on the order classes (Mini-SSV2)",
        "TAM beats TSN on the appearance classes (Mini-Kinetics)",
        "TAM beats I3D under uniform sampling",
    ]


def _tiny_overrides(data_dir: str) -> dict:
    """The tiny demo dataset and sizes of tests/helpers.py:tiny_config, for every run."""
    tiny = tiny_config(data_dir)
    return {
        "dataset.data_dir": data_dir,
        "dataset.short_side": tiny.dataset.short_side,
        "dataset.num_train_per_class": tiny.dataset.num_train_per_class,
        "dataset.num_test_per_class": tiny.dataset.num_test_per_class,
        "data.crop_size": tiny.data.crop_size,
        "eval.resize_short": tiny.eval.resize_short,
        "data.shuffle_buffer_size": 16,
        "model.base_width": 8,
        "batch_size": 8,
        "eval.batch_size": 8,
    }


# chen_aggregation's ResNet-18 runs are chen_aggregation_nonlocal's TSN and TAM runs and
# chen_pooling's ResNet-18 runs without temporal pooling, under the same configs: the
# three tests run on one xdist worker, in this order, so the later two load those
# programs from XLA's persistent cache (tests/conftest.py) rather than compile them again
# (the nonlocal study's test took 69 s after chen_aggregation's, 102 s by itself, beside
# a training run).
SHARED_PROGRAMS = ("chen_aggregation.py", "chen_aggregation_nonlocal.py", "chen_pooling.py")


def _shipped_param(path: str):
    name = os.path.basename(path)
    marks = [pytest.mark.xdist_group("chen_resnet18")] if name in SHARED_PROGRAMS else []
    return pytest.param(path, marks=marks, id=name)


@pytest.mark.slow
@pytest.mark.parametrize("path", [_shipped_param(p) for p in SHIPPED])
def test_each_shipped_study_runs_end_to_end(
    path, tiny_data_dir, tmp_path, one_device, fast_compile, monkeypatch
):
    study = studies.load_study(path)
    root = str(tmp_path / study.name)
    results = studies.run_study(study, root, 1, 2, _tiny_overrides(tiny_data_dir), print)
    assert len(results["cells"]) == len(study.cells)
    for name in study.runs:
        assert json.load(open(os.path.join(root, name, "metrics.json")))["step"] == 2
    for name in studies.RESULTS:
        assert os.path.getsize(os.path.join(root, name)) > 0
    table = open(os.path.join(root, "results.md")).read()
    assert all(f"| {row} |" in table for row in study.rows)
    # A rerun skips every finished run.
    monkeypatch.setattr(runner, "train_and_evaluate", pytest.fail)
    studies.run_study(study, root, 1, 2, _tiny_overrides(tiny_data_dir), print)


def test_the_console_entry_point_exits_0_after_a_study(tmp_path, monkeypatch):
    """absl's app exits with what its main returns: the results dict would be status 1."""
    import sys

    def fake_run_study(study, root, *args, **kwargs):
        os.makedirs(root)
        open(os.path.join(root, "results.md"), "w").write("| table |\n")
        return {"cells": []}

    monkeypatch.setattr(studies, "load_study", lambda path: _toy_study())
    monkeypatch.setattr(studies, "run_study", fake_run_study)
    monkeypatch.setattr(sys, "argv", ["tsn-jax-study", "toy.py", "--root", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        study_cli.run()
    assert exit_.value.code in (None, 0)
