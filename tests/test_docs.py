"""The docs name tests that exist: every claim in docs/fidelity.md points at a real test."""

import ast
import pathlib
import re

from tests.helpers import documented_commands

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


def _anchors(path: pathlib.Path) -> set[str]:
    """GitHub's anchors of a markdown file's headings (outside code blocks)."""
    anchors, in_code = set(), False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            heading = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", heading).replace(" ", "-"))
    return anchors


def test_every_link_between_the_readme_and_the_docs_resolves():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    checked = 0
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name} links to a missing {target}"
            if anchor and path.suffix == ".md":
                assert anchor in _anchors(path), f"{page.name}: no #{anchor} in {path.name}"
            checked += 1
    assert checked >= 20, checked


def test_every_documented_training_command_names_a_config_and_keys_it_has():
    """`python main.py` / `tsn-jax-train` / `tsn-jax-eval` lines: the config (and variant)
    loads and every `--config.a.b=...` override names a key of it; every other
    `tsn-jax-*` program is an installed entry point."""
    import importlib

    setup = (ROOT / "setup.py").read_text()
    checked = 0
    for page, argv in documented_commands():
        program = argv[:2] if argv[0] == "python" else argv[:1]
        if program[0].startswith("tsn-jax-"):
            assert f'"{program[0]}=' in setup, f"{page}: {program[0]} is not an entry point"
        if program not in (["python", "main.py"], ["tsn-jax-train"], ["tsn-jax-eval"]):
            continue
        flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
        path, _, variant = flags["config"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        config = module.get_config(variant) if variant else module.get_config()
        for key in (k for k in flags if k.startswith("config.")):
            node = config
            for part in key.split(".")[1:]:
                assert part in node, f"{page}: --{key} is not a config key"
                node = node[part]
        checked += 1
    assert checked >= 8, checked
