"""The docs name tests that exist: every claim in docs/fidelity.md points at a real test."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
# `tests/file.py::name` or `::name` (the file of the previous reference), or `tests/file.py`.
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?(?:::(\w+))?`")


def _test_names(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_test_the_fidelity_page_names_exists():
    text = (ROOT / "docs" / "fidelity.md").read_text()
    current = None
    named = 0
    for line in text.splitlines():
        for file, name in REFERENCE.findall(line):
            if file:
                current = ROOT / file
                assert current.is_file(), f"docs/fidelity.md names a missing file {file}"
            if name:
                assert current is not None, f"`::{name}` follows no test file"
                assert name in _test_names(current), f"{current.name} has no test {name}"
                named += 1
    assert named >= 40, named
