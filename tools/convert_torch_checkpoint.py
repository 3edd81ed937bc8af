"""Converts a PyTorch checkpoint into Flax variables saved with Orbax.

    python tools/convert_torch_checkpoint.py --arch resnet50 \
        --checkpoint resnet50-0676ba61.pth --output /tmp/resnet50_flax

`--arch` is one of `convert_torch.supported_architectures()` (README, "Importing
PyTorch weights"), e.g. `mmaction2_tsm_resnet50` for an mmaction2 TSM checkpoint.
The output is an Orbax checkpoint of {'params', 'batch_stats'}; read it with
`orbax.checkpoint.StandardCheckpointer().restore(OUTPUT)`. Needs torch
(`pip install torch`) to read the .pth file.
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tsn_jax import convert_torch  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "arch", None, convert_torch.supported_architectures(), "Architecture of the checkpoint."
)
flags.DEFINE_string("checkpoint", None, "PyTorch .pth/.pt file holding a state_dict.")
flags.DEFINE_string("output", None, "Directory of the Orbax checkpoint to write.")
flags.DEFINE_bool(
    "bgr_to_rgb",
    False,
    "The checkpoint was trained on BGR frames (Caffe models such as BN-Inception): "
    "reverse its first convolution's input channels so that it reads RGB frames.",
)
flags.mark_flags_as_required(["arch", "checkpoint", "output"])


def load_torch_state_dict(path: str) -> dict:
    """The state_dict in a torch file as numpy arrays ('module.' prefixes dropped)."""
    try:
        import torch
    except ImportError as error:
        raise SystemExit("reading a .pth file needs PyTorch: pip install torch") from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = checkpoint.get("state_dict", checkpoint)
    return {k.removeprefix("module."): v.numpy() for k, v in state_dict.items()}


def main(argv):
    del argv
    import orbax.checkpoint as ocp

    variables = convert_torch.convert_torchvision(
        FLAGS.arch, load_torch_state_dict(FLAGS.checkpoint)
    )
    if FLAGS.bgr_to_rgb:
        variables = convert_torch.bgr_to_rgb(variables)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.abspath(FLAGS.output), variables)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
