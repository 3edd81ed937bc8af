"""Torch-free helpers for tests that compare our parameter layouts with PyTorch's."""

import hashlib

import flax

from tsn_jax import convert_torch


def torch_layout(variables, **naming) -> dict[str, tuple[int, ...]]:
    """torch key -> torch shape of every Flax variable.

    Keys as `convert_torch.torch_key` writes them (`naming`: its `index_suffixes` and
    `renames`); kernels back to [O, I, *window], dense kernels to [out, in].
    """
    layout = {}
    for (collection, *path), leaf in flax.traverse_util.flatten_dict(variables).items():
        shape = tuple(leaf.shape)
        if len(shape) >= 3:
            shape = (shape[-1], shape[-2], *shape[:-2])
        elif len(shape) == 2:
            shape = shape[::-1]
        layout[convert_torch.torch_key(collection, tuple(path), **naming)] = shape
    return layout


def layout_digest(layout: dict[str, tuple[int, ...]]) -> tuple[int, str]:
    """(number of tensors, sha256 of the sorted "key shape" lines) of a layout."""
    lines = sorted(f"{key} {shape}" for key, shape in layout.items())
    return len(lines), hashlib.sha256("\n".join(lines).encode()).hexdigest()
