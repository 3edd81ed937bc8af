"""tsn_jax.deployment: the exported StableHLO, SavedModel and ONNX give the JAX model's logits."""

import json
import os

import jax
import numpy as np
import pytest

from tests.helpers import run_once, save_run, tiny_config
from tsn_jax import deployment
from tsn_jax.models import create_model

# Exports are programs (tracing, serializing and reloading whole models): the fast loop
# (`pytest -m 'not slow'`) leaves them out.
pytestmark = pytest.mark.slow

CLASSES = ("a", "b", "c", "d")


def _config(name, tmp_path):
    config = tiny_config(str(tmp_path / "tfds"))
    if name == "tsn_resnet":
        config.model.backbone_options = {}
    elif name == "tsm_resnet":
        pass  # the demo's TSM
    elif name == "i3d":
        config.model.backbone = "i3d"
        config.model.backbone_options = {}
        config.data.num_segments = 1
        config.data.frames_per_snippet = 4
    elif name == "bninception_flow":
        config.model.backbone = "bninception"
        config.model.backbone_options = {}
        config.data.modality = "flow"
        config.data.frames_per_snippet = 2
    return config


def _model(config):
    model = create_model(config.model, len(CLASSES), config.data.num_segments)
    shape = (1, *deployment.input_signature(model, config.data)["clips"])
    variables = run_once(lambda x: model.init(jax.random.key(0), x, train=False), np.zeros(shape))
    # BatchNorm statistics away from (0, 1), so that a layout error in them shows.
    rng = np.random.default_rng(1)
    stats = jax.tree_util.tree_map_with_path(
        lambda path, x: (
            rng.uniform(0.5, 1.5, np.shape(x))
            if path[-1].key == "var"
            else rng.normal(0, 0.1, np.shape(x))
        ).astype(np.float32),
        variables["batch_stats"],
    )
    variables = {"params": variables["params"], "batch_stats": stats}
    return model, variables, shape


MODELS = ["tsn_resnet", "tsm_resnet", "i3d", "bninception_flow"]


def _exported(name, tmp_path, formats):
    """(config, model, variables, clips [3, ...], JAX logits, written paths, signature)."""
    config = _config(name, tmp_path)
    model, variables, shape = _model(config)
    clips = np.random.default_rng(0).normal(size=(3, *shape[1:])).astype(np.float32)
    want = np.asarray(run_once(lambda x: model.apply(variables, x, train=False), clips))
    output = str(tmp_path / "export")
    written = deployment.export(model, variables, config, CLASSES, output, formats, 3)
    signature = json.loads(open(os.path.join(output, deployment.SIGNATURE_FILE)).read())
    return config, model, variables, clips, want, written, signature


def _close(got, want):
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("name", MODELS)
def test_stablehlo_and_saved_model_give_the_jax_models_logits(name, tmp_path):
    import tensorflow as tf

    config, _, _, clips, want, written, signature = _exported(
        name, tmp_path, ("stablehlo", "saved_model")
    )
    # StableHLO: any batch size.
    call = deployment.load_stablehlo(written["stablehlo"])
    _close(call(clips), want)
    _close(call(clips[:1]), want[:1])
    # SavedModel: its serving signature, any batch size.
    serve = tf.saved_model.load(written["saved_model"]).signatures["serving_default"]
    _close(serve(clips=tf.constant(clips))["logits"], want)
    _close(serve(clips=tf.constant(clips[:2]))["logits"], want[:2])

    assert signature["inputs"] == {"clips": ["batch", *clips.shape[1:]]}
    assert signature["outputs"] == {"logits": ["batch", len(CLASSES)]}
    assert signature["class_names"] == list(CLASSES) and signature["onnx_batch_size"] is None
    flow = config.data.modality == "flow"
    mean = config.data.flow_mean if flow else config.data.mean
    assert signature["normalization"]["mean"] == list(mean)


@pytest.mark.parametrize("name", ["tsn_resnet", "tsm_resnet", "bninception_flow"])
def test_onnx_gives_the_jax_models_logits_in_onnx_runtime(name, tmp_path):
    pytest.importorskip("jax2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    _, _, _, clips, want, written, signature = _exported(name, tmp_path, ("onnx",))
    session = onnxruntime.InferenceSession(written["onnx"], providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("clips", list(clips.shape))]
    _close(session.run(["logits"], {"clips": clips})[0], want)
    assert signature["onnx_batch_size"] == 3


def test_onnx_export_of_a_3d_network_says_it_is_not_implemented(tmp_path):
    pytest.importorskip("jax2onnx")
    config = _config("i3d", tmp_path)
    model, variables, _ = _model(config)
    with pytest.raises(NotImplementedError, match="ONNX export of 3D convolutions"):
        deployment.export_onnx(model, variables, config.data, str(tmp_path / "i3d.onnx"))


def test_an_unknown_format_is_named(tmp_path):
    config = _config("tsn_resnet", tmp_path)
    model, variables, _ = _model(config)
    with pytest.raises(ValueError, match=r"unknown export format\(s\) \['tflite'\]"):
        deployment.export(model, variables, config, CLASSES, str(tmp_path / "x"), ["tflite"])
    assert not os.path.exists(tmp_path / "x")


def test_the_export_command_writes_the_formats_asked_for(tmp_path, capsys):
    """tsn-jax-export RUN OUT --formats=stablehlo: the slim copy and the artifact, whose
    logits are the loaded run's; an unknown format stops it before anything is written."""
    from tsn_jax import runs
    from tsn_jax.cli import export

    workdir, _, _ = save_run(tmp_path / "run", str(tmp_path / "tfds"), 3, CLASSES)
    with pytest.raises(SystemExit):
        export.main([str(workdir), str(tmp_path / "bad"), "--formats=stablehlo,tflite"])
    assert "unknown format(s) ['tflite']" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad")
    output = export.main([str(workdir), str(tmp_path / "out"), "--formats=stablehlo"])
    assert (
        f"wrote {os.path.join(output, 'model.stablehlo')} (stablehlo, " in capsys.readouterr().out
    )
    model, variables, config, _ = runs.load_run(output)
    clips = np.random.default_rng(0).normal(size=(2, 3, 1, 32, 32, 3)).astype(np.float32)
    want = np.asarray(model.apply(variables, clips, train=False))
    got = deployment.load_stablehlo(os.path.join(output, "model.stablehlo"))(clips)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    assert sorted(os.listdir(output)) == ["default", "model.stablehlo", "run", "signature.json"]


def test_onnx_export_of_a_multi_stream_model_says_it_is_not_implemented(tmp_path):
    from tsn_jax.models import stan

    model = stan.STAN(
        streams=("frame", "flow"),
        stream_inputs=("inputs", "inputs_flow"),
        num_classes=4,
        base_width=4,
        conv6_features=8,
        lstm_features=8,
        fusion="early",
    )
    with pytest.raises(NotImplementedError, match="several input streams"):
        deployment.export_onnx(model, {}, tiny_config("/unused").data, str(tmp_path / "s.onnx"))
