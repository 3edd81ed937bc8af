"""Packaging for tsn-jax."""

import setuptools

setuptools.setup(
    name="tsn-jax",
    version="0.1.0",
    description=(
        "Temporal Segment Networks and spatio-temporal ConvNets for video "
        "action recognition in JAX/Flax."
    ),
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=setuptools.find_packages(include=["tsn_jax*", "input_pipeline*", "configs*"]),
    # Lower bounds: the versions the test suite ran with on the development machine.
    install_requires=[
        "jax>=0.10.2",
        "flax>=0.12.8",
        "optax>=0.2.8",
        "orbax-checkpoint>=0.12.8",
        "tensorflow-cpu>=2.21.0",
        "tensorflow-datasets>=4.9.10",
        # TFDS 4.9 imports this backport in DatasetBuilder but does not declare it.
        "importlib_resources>=7.1.0",
        "ml-collections>=1.1.0",
        "clu>=0.0.12",
        "tensorboard>=2.21.0",
        "av>=18.1.0",
        # Optical flow at dataset-build time; contrib has TV-L1 (cv2.optflow).
        "opencv-contrib-python-headless>=5.1.0.95",
        "numpy>=2.4.6",
        "absl-py>=2.5.1",
        # Real photographs used as backgrounds of the embedded demo videos.
        "scikit-image>=0.26.0",
        # The evaluation's confusion matrix and tsn-jax-predict's timeline (PNG).
        "matplotlib>=3.11.2",
    ],
    entry_points={
        "console_scripts": [
            "tsn-jax-train=tsn_jax.cli.train:run",
            "tsn-jax-eval=tsn_jax.cli.train:run_eval",
            "tsn-jax-predict=tsn_jax.cli.predict:run",
            "tsn-jax-convert=tsn_jax.cli.convert:run",
            "tsn-jax-fuse=tsn_jax.cli.fuse:run",
            "tsn-jax-extract-flow=tsn_jax.cli.extract_flow:run",
            "tsn-jax-contribution=tsn_jax.cli.contribution:run",
            "tsn-jax-export=tsn_jax.cli.export:run",
            "tsn-jax-study=tsn_jax.cli.study:run",
        ]
    },
    extras_require={
        "test": [
            "pytest>=9.2.0",
            "pytest-xdist>=3.8.0",
            "ruff>=0.17.6",
            "nbformat>=5.11.1",
            "nbconvert>=7.17.2",
            "ipykernel>=7.4.0",
        ],
        # ONNX export (tsn_jax.deployment.export_onnx) and ONNX Runtime. jax2onnx itself is
        # installed with --no-deps (docs/deployment.md): it pins orbax-checkpoint<0.11.37.
        "onnx": [
            "onnx>=1.23.2",
            "onnx-ir>=1.1.0",
            "onnxruntime>=1.32.0",
            "equinox>=0.13.8",
            "dm-pix>=0.4.5",
        ],
    },
)
