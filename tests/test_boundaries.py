"""The line between input_pipeline (TensorFlow) and tsn_jax (JAX) of DESIGN.md."""

import ast
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imports(package: str) -> dict[str, set[str]]:
    """Modules imported anywhere (also inside functions) by each file of a package, as
    dotted names: `from tsn_jax import spec` gives 'tsn_jax.spec'."""
    found = {}
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            modules = set()
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    modules |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    modules |= {f"{node.module}.{alias.name}" for alias in node.names}
            found[os.path.relpath(path, ROOT)] = modules
    return found


def _imported_roots(package: str) -> dict[str, set[str]]:
    """Top-level modules imported anywhere by each file of a package."""
    return {
        path: {module.split(".")[0] for module in modules}
        for path, modules in _imports(package).items()
    }


def test_input_pipeline_never_imports_jax_and_reads_only_the_facts_of_tsn_jax():
    for path, modules in _imports("input_pipeline").items():
        roots = {module.split(".")[0] for module in modules}
        assert not roots & {"jax", "flax"}, path
        library = {m for m in modules if m.startswith("tsn_jax.")}
        assert all(m.startswith("tsn_jax.spec") for m in library), (path, library)


def test_the_facts_module_loads_neither_jax_nor_tensorflow():
    code = (
        "import sys\n"
        "import tsn_jax.spec\n"
        "loaded = {'jax', 'flax', 'tensorflow'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_tsn_jax_never_imports_tensorflow_directly():
    for path, roots in _imported_roots("tsn_jax").items():
        assert not roots & {"tensorflow", "tensorflow_datasets"}, path


def test_importing_the_library_does_not_load_tensorflow():
    code = (
        "import sys\n"
        "import tsn_jax.train_step, tsn_jax.scoring, tsn_jax.reports, tsn_jax.models\n"
        "import tsn_jax.metrics\n"
        "import tsn_jax.optim, tsn_jax.checkpoints\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was loaded'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_test_module_imports_another():
    for path, modules in _imports("tests").items():
        imported = {m for m in modules if m.startswith("tests.test_")}
        assert not imported, f"{path} imports {imported}: move shared code to tests/helpers.py"
