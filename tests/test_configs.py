"""Every published recipe in configs/ loads, names its source and trains on the demo data.

Each config file except the demo ones (found with glob, so a new recipe is tested without
touching this file) is loaded, its dataset swapped for the tiny embedded demo videos and
its sizes shrunk (32x32 crops, at most 3 segments and 4 frames, an 8-wide network), and
then trained for 2 steps and evaluated in-process with `runner.train_and_evaluate`. The
recipe itself (backbone, options, modality, sampling, crops, consensus, partial BN,
frozen stages, optimizer groups and schedule) is what runs. A config module may list
config strings in `VARIANTS` (`--config=configs/x.py:variant`); each is run.
"""

import glob
import importlib
import os

import ml_collections
import pytest

from configs import base, default
from tsn_jax import runner

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs")
# The demo configs: no published figure (tsn_untrimmed_demo runs in test_studies.py).
NOT_RECIPES = {
    "__init__.py",
    "base.py",
    "default.py",
    "tsn_rgb_demo.py",
    "tsn_untrimmed_demo.py",
}
# Flow modalities and the stored flow type each reads (dataset.flow_types).
FLOW_TYPES = {"flow": "flow", "warped_flow": "warp"}
NUM_DEMO_CLASSES = 10


def _recipe_modules() -> list[str]:
    names = sorted(os.path.basename(p) for p in glob.glob(os.path.join(CONFIG_DIR, "*.py")))
    return [name[: -len(".py")] for name in names if name not in NOT_RECIPES]


def _recipes() -> list:
    params = []
    for name in _recipe_modules():
        module = importlib.import_module(f"configs.{name}")
        for variant in getattr(module, "VARIANTS", (None,)):
            label = name if variant is None else f"{name}:{variant}"
            params.append(pytest.param(name, variant, id=label))
    return params


def _load(name: str, variant: str | None) -> ml_collections.ConfigDict:
    module = importlib.import_module(f"configs.{name}")
    return module.get_config() if variant is None else module.get_config(variant)


def _flow_types(config: ml_collections.ConfigDict) -> tuple[str, ...]:
    """The stored flow types the config's modalities read, e.g. ('flow',); () for none."""
    modalities = [config.data.modality]
    modalities += [spec.partition(":")[0] for spec in config.data.extra_modalities]
    return tuple(sorted({FLOW_TYPES[m] for m in modalities if m in FLOW_TYPES}))


def _demo_dataset(config: ml_collections.ConfigDict, data_dir: str, flow_types: tuple) -> None:
    """Points config.dataset at the tiny demo build (1 + 1 videos per class, short side 40):
    the demo's dataset section, with the demo renderer's own keys."""
    config.dataset = default.get_config().dataset
    ds = config.dataset
    ds.data_dir = data_dir
    ds.video_dir = ""
    ds.split_index = 1
    ds.short_side = 40
    ds.size = ()
    ds.fps = 0
    ds.num_train_per_class = 1
    ds.num_test_per_class = 1
    ds.seed = 0
    ds.train_split = "train"
    ds.eval_split = "test"
    # Farneback instead of TV-L1: the same stored planes, 1/27 of the time (README).
    ds.flow_method = "farneback" if flow_types else ""
    ds.flow_types = flow_types or ("flow",)


@pytest.fixture(scope="session")
def demo_data_dir(tmp_path_factory):
    """A TFDS data dir and a function that builds a demo variant in it once per session."""
    from input_pipeline import datasets

    data_dir = str(tmp_path_factory.mktemp("tfds_configs"))
    built = set()

    def prepare(flow_types: tuple[str, ...]) -> str:
        if flow_types not in built:
            config = default.get_config()
            _demo_dataset(config, data_dir, flow_types)
            datasets.get_builder(config.dataset)
            built.add(flow_types)
        return data_dir

    return prepare


def _shrink(config: ml_collections.ConfigDict, data_dir: str) -> ml_collections.ConfigDict:
    """The recipe on the demo data, small enough for seconds on 2 CPU cores."""
    _demo_dataset(config, data_dir, _flow_types(config))
    data = config.data
    test = config.eval
    data.crop_size = 32
    test.resize_short = 36
    data.num_segments = min(data.num_segments, 3)
    if test.num_segments:  # 0: evaluate with num_segments (segment-mixing models)
        test.num_segments = min(test.num_segments, 5)
    data.frames_per_snippet = min(data.frames_per_snippet, 4)
    data.shuffle_buffer_size = 16
    config.model.base_width = 8
    config.model.consensus_k = min(config.model.consensus_k, data.num_segments)
    config.init.checkpoint = ""
    config.batch_size = 8
    config.eval.batch_size = 8
    config.num_train_steps = 2
    # Reduce-on-plateau needs evaluations: one after step 1 runs its update.
    config.eval_every_steps = 1 if config.optimizer.schedule == "plateau" else 0
    config.log_every_steps = 1
    config.checkpoint_every_steps = 2
    return config


@pytest.fixture
def run(one_device, fast_compile):
    """train_and_evaluate on one device, compiled for speed (conftest's fixtures): these
    runs are almost all compilation, and the recipes are under test here."""
    return runner.train_and_evaluate


def _keys(config: ml_collections.ConfigDict, prefix: str = "") -> set[str]:
    """Dotted paths of every leaf, not descending into model.backbone_options."""
    keys = set()
    for key, value in config.items():
        path = f"{prefix}{key}"
        if isinstance(value, ml_collections.ConfigDict) and path != "model.backbone_options":
            keys |= _keys(value, path + ".")
        else:
            keys.add(path)
    return keys


def test_every_recipe_is_found():
    assert len(_recipe_modules()) >= 10, _recipe_modules()


@pytest.mark.parametrize("name, variant", _recipes())
def test_recipe_documents_its_source_and_keeps_to_known_keys(name, variant):
    module = importlib.import_module(f"configs.{name}")
    doc = module.__doc__ or ""
    assert "Published" in doc, f"configs/{name}.py: docstring names no published accuracy"
    assert "Table" in doc, f"configs/{name}.py: docstring names no table"
    assert "python main.py --config=configs/" in doc, f"configs/{name}.py: no command line"
    config = _load(name, variant)
    unknown = _keys(config) - _keys(base.get_config())
    assert not unknown, f"configs/{name}.py sets keys base.py lacks: {sorted(unknown)}"


@pytest.mark.slow
@pytest.mark.parametrize("name, variant", _recipes())
def test_recipe_trains_and_evaluates_on_demo_data(name, variant, demo_data_dir, run, tmp_path):
    config = _load(name, variant)
    config = _shrink(config, demo_data_dir(_flow_types(config)))
    summary = run(config, str(tmp_path))
    assert summary["step"] == 2
    assert summary["num_eval_videos"] == NUM_DEMO_CLASSES


@pytest.mark.slow
def test_second_run_on_a_finished_workdir_only_evaluates(demo_data_dir, run, tmp_path):
    # Docstrings evaluate with other test settings (crop size, clips) by re-running on the
    # finished workdir: the run restores the last checkpoint, trains no step, evaluates.
    config = _shrink(_load("ucf101_r3d18_finetune_hara", None), demo_data_dir(()))
    first = run(config, str(tmp_path))
    config.data.crop_size = config.eval.resize_short
    config.eval.num_segments = 5
    second = run(config, str(tmp_path))
    assert second["step"] == first["step"] == 2
    assert second["num_eval_videos"] == NUM_DEMO_CLASSES
    assert second["loss"] != first["loss"]  # other views, the same weights


def test_the_base_config_is_neutral_and_must_name_a_dataset():
    from tsn_jax import spec
    from tsn_jax.config_checks import validate_config

    config = base.get_config()
    assert not set(spec.DEMO_DATASET_KEYS) & set(config.dataset)
    assert not config.model.backbone_options
    with pytest.raises(ValueError, match="config.dataset.name must be one of"):
        validate_config(config)
    config.dataset.name = "ucf101"
    validate_config(config)


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("model.backbone", "resnet5", "config.model: Unknown backbone 'resnet5'"),
        ("model.consensus", "median", "config.model: Unknown consensus 'median'"),
        ("optimizer.schedule", "cos", "config.optimizer.schedule must be one of"),
        ("partial_bn", "on", "config.partial_bn must be one of"),
        ("init.classifier", "fresh", "config.init.classifier must be one of"),
        ("model.segments_as_clip", True, "segments_as_clip needs a 3D backbone; 'resnet18'"),
    ],
)
def test_a_bad_model_or_optimizer_setting_fails_when_the_config_is_loaded(key, value, message):
    from tsn_jax.config_checks import validate_config

    config = default.get_config()
    section, _, name = key.rpartition(".")
    (config[section] if section else config)[name] = value
    with pytest.raises(ValueError, match=message):
        validate_config(config)
    options = default.get_config()
    options.model.backbone_options.shift_fraction_typo = 0.25
    with pytest.raises(ValueError, match="backbone_options for 'resnet18'.*shift_fraction_typo"):
        validate_config(options)
