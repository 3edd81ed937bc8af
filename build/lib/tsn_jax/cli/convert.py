"""Converts a PyTorch checkpoint into Flax variables saved with Orbax.

    tsn-jax-convert --arch resnet50 \
        --checkpoint resnet50-0676ba61.pth --output /tmp/resnet50_flax

`--arch` is one of `convert_torch.supported_architectures()` (README, "Importing
PyTorch weights"), e.g. `mmaction2_tsm_resnet50` for an mmaction2 TSM checkpoint.
The output is an Orbax checkpoint of {'params', 'batch_stats'}; read it with
`orbax.checkpoint.StandardCheckpointer().restore(OUTPUT)`. Needs torch
(`pip install torch`) to read the .pth file.
"""

import os

from absl import app, flags

from tsn_jax import convert_torch

FLAGS = flags.FLAGS


def _define_flags() -> None:
    """Defined by the entry point only, so that importing this module defines no flags."""
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


def main(argv):
    del argv
    import orbax.checkpoint as ocp

    variables = convert_torch.convert_torchvision(
        FLAGS.arch, convert_torch.load_torch_state_dict(FLAGS.checkpoint)
    )
    if FLAGS.bgr_to_rgb:
        variables = convert_torch.bgr_to_rgb(variables)
    with ocp.StandardCheckpointer() as checkpointer:
        checkpointer.save(os.path.abspath(FLAGS.output), variables)
    print(f"wrote {FLAGS.output}")


def run() -> None:
    """The `tsn-jax-convert` console entry point."""
    _define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
