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
    install_requires=[
        "jax",
        "flax",
        "optax",
        "orbax-checkpoint",
        "tensorflow-cpu",
        "tensorflow-datasets",
        # TFDS 4.9 imports this backport in DatasetBuilder but does not declare it.
        "importlib_resources",
        "ml-collections",
        "clu",
        "tensorboard",
        "av",
        # Optical flow at dataset-build time; contrib has TV-L1 (cv2.optflow).
        "opencv-contrib-python-headless",
        "numpy",
        "absl-py",
        # Real photographs used as backgrounds of the embedded demo videos.
        "scikit-image",
        # The evaluation's confusion matrix and tsn-jax-predict's timeline (PNG).
        "matplotlib",
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
        ]
    },
    extras_require={
        "test": ["pytest", "pytest-xdist", "ruff", "nbformat", "nbconvert", "ipykernel"],
    },
)
