"""The line between input_pipeline (TensorFlow) and tsn_jax (JAX) of DESIGN.md."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imported_roots(package: str) -> dict[str, set[str]]:
    """Top-level modules imported anywhere (also inside functions) by each file of a package."""
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            roots = set()
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    roots |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    roots.add(node.module.split(".")[0])
            found[os.path.relpath(path, ROOT)] = roots
    return found


def test_input_pipeline_never_imports_jax():
    for path, roots in _imported_roots("input_pipeline").items():
        assert not roots & {"jax", "flax", "tsn_jax"}, path


def test_tsn_jax_never_imports_tensorflow_directly():
    for path, roots in _imported_roots("tsn_jax").items():
        assert not roots & {"tensorflow", "tensorflow_datasets"}, path


def test_importing_the_library_does_not_load_tensorflow():
    code = (
        "import sys\n"
        "import tsn_jax.train, tsn_jax.models, tsn_jax.metrics\n"
        "import tsn_jax.optim, tsn_jax.checkpoints\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was loaded'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
