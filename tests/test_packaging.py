"""setup.py: every dependency has a lower bound, and the installed versions meet it."""

import ast
import importlib.metadata
import os

from packaging.requirements import Requirement

from tests.helpers import ROOT


def _requirements() -> list[str]:
    """install_requires and the test and onnx extras (the README's test commands install
    both), read from setup.py without running it."""
    tree = ast.parse(open(os.path.join(ROOT, "setup.py")).read())
    [call] = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", None) == "setup"
    ]
    keywords = {
        k.arg: ast.literal_eval(k.value)
        for k in call.keywords
        if k.arg in ("install_requires", "extras_require")
    }
    extras = keywords["extras_require"]
    return keywords["install_requires"] + extras["test"] + extras["onnx"]


def test_every_dependency_has_a_lower_bound_that_the_installed_version_meets():
    requirements = [Requirement(line) for line in _requirements()]
    assert len(requirements) >= 20
    for requirement in requirements:
        bounds = [spec for spec in requirement.specifier if spec.operator == ">="]
        assert bounds, f"{requirement.name} has no lower bound"
        installed = importlib.metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            requirement.name,
            installed,
        )
