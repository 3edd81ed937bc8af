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


# What input_pipeline may read of tsn_jax: the facts, the errors, the file lock and the
# progress lines, none
# of which loads jax or TensorFlow.
PLAIN_MODULES = ("tsn_jax.spec", "tsn_jax.errors", "tsn_jax.file_lock", "tsn_jax.progress")


def test_input_pipeline_never_imports_jax_and_reads_only_the_facts_of_tsn_jax():
    for path, modules in _imports("input_pipeline").items():
        roots = {module.split(".")[0] for module in modules}
        assert not roots & {"jax", "flax"}, path
        library = {m for m in modules if m.startswith("tsn_jax.")}
        # `from tsn_jax.spec import X` is recorded as the module and as 'tsn_jax.spec.X'.
        assert all(m.startswith(PLAIN_MODULES) for m in library), (path, library)


def _assert_import_leaves_out(modules: str, absent: set[str]) -> None:
    """Importing `modules` (comma-separated) in a fresh interpreter loads none of `absent`."""
    code = f"import sys\nimport {modules}\nloaded = {absent!r} & set(sys.modules)\n"
    code += "assert not loaded, loaded\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_facts_module_loads_neither_jax_nor_tensorflow():
    _assert_import_leaves_out(", ".join(PLAIN_MODULES), {"jax", "flax", "tensorflow"})


# The modules of tsn_jax that drive the data side: the runs, inference on files and the
# command-line programs. The rest of the library never meets TensorFlow.
DRIVERS = ("tsn_jax/runner.py", "tsn_jax/inference.py", "tsn_jax/cli/")


# TensorFlow as an export format (the SavedModel), not as the data side.
EXPORTERS = ("tsn_jax/deployment.py",)


def test_only_the_drivers_import_input_pipeline_or_tensorflow():
    data_side = {"tensorflow", "tensorflow_datasets", "input_pipeline", "clu"}
    for path, roots in _imported_roots("tsn_jax").items():
        if path.startswith(EXPORTERS):
            assert not roots & (data_side - {"tensorflow"}), (path, roots & data_side)
        elif not path.startswith(DRIVERS):
            assert not roots & data_side, (path, roots & data_side)


def _module_name(path: str) -> str:
    name = path.removesuffix(".py").replace(os.sep, ".")
    return name.removesuffix(".__init__")


def test_the_packages_import_each_other_without_cycles():
    graph = {}
    for package in ("tsn_jax", "input_pipeline"):
        for path, modules in _imports(package).items():
            # `from tsn_jax import spec` and `from tsn_jax.models import resnet` name modules
            # or names in them: keep whichever is a module of the two packages.
            graph[_module_name(path)] = modules
    known = set(graph)

    def targets(modules):
        found = set()
        for module in modules:
            while module and module not in known:
                module = module.rpartition(".")[0]
            if module:
                found.add(module)
        return found

    edges = {module: targets(modules) - {module} for module, modules in graph.items()}
    # A package's __init__ importing its own modules is not a cycle of the layout.
    for module in edges:
        edges[module] = {t for t in edges[module] if not module.startswith(t + ".")}
    state = {}

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_importing_the_library_does_not_load_tensorflow():
    library = "tsn_jax.train_step, tsn_jax.scoring, tsn_jax.reports, tsn_jax.models"
    library += ", tsn_jax.metrics, tsn_jax.optim, tsn_jax.checkpoints, tsn_jax.pretrained"
    _assert_import_leaves_out(library, {"tensorflow"})


def test_no_test_module_imports_another():
    for path, modules in _imports("tests").items():
        imported = {m for m in modules if m.startswith("tests.test_")}
        assert not imported, f"{path} imports {imported}: move shared code to tests/helpers.py"


def test_every_console_entry_point_names_a_function_of_the_cli():
    import importlib
    import re

    setup = open(os.path.join(ROOT, "setup.py")).read()
    entries = re.findall(r'"(tsn-jax-[a-z-]+)=([\w.]+):(\w+)"', setup)
    assert {name for name, _, _ in entries} >= {"tsn-jax-train", "tsn-jax-eval", "tsn-jax-predict"}
    for name, module, function in entries:
        assert module.startswith("tsn_jax.cli."), name
        assert callable(getattr(importlib.import_module(module), function)), name
