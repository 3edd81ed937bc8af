"""Segmental consensus of Temporal Segment Networks.

Wang et al., "Temporal Segment Networks: Towards Good Practices for Deep Action
Recognition", ECCV 2016, and "Temporal Segment Networks for Action Recognition in
Videos", TPAMI 2018, Sec. 3.3: the class scores of the K snippets of a video are
aggregated by a consensus function G *before* the softmax,
``p = softmax(G(F(T_1), ..., F(T_K)))``, so the loss and its gradient see the whole video.

A consensus here is a pure function ``[B, K, N] -> [B, N]`` over the segment axis 1.
Only the average is implemented so far; max, top-k, linear weighting and attention
weighting (TPAMI Sec. 3.3) are planned.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

__all__ = ["avg_consensus", "get_consensus", "IMPLEMENTED", "PLANNED"]

Consensus = Callable[[jax.Array], jax.Array]


def avg_consensus(snippet_scores: jax.Array) -> jax.Array:
    """Average over segments: ``[B, K, N] -> [B, N]``.

    Its gradient with respect to every snippet's scores is ``1/K`` times the gradient of
    the video's scores, so all K snippets are updated jointly (TSN Eq. 3).
    """
    return jnp.mean(snippet_scores, axis=1)


_CONSENSUS: dict[str, Consensus] = {
    "avg": avg_consensus,
}

IMPLEMENTED: tuple[str, ...] = tuple(_CONSENSUS)
PLANNED: tuple[str, ...] = ("max", "topk", "weighted", "attention")


def get_consensus(name: str) -> Consensus:
    """Returns the consensus function called ``name`` (``[B, K, N] -> [B, N]``).

    Raises:
      ValueError: ``name`` is not implemented (planned or unknown).
    """
    try:
        return _CONSENSUS[name]
    except KeyError:
        planned = f" ({name!r} is planned but not built yet)" if name in PLANNED else ""
        raise ValueError(
            f"Unknown consensus {name!r}{planned}; implemented: {list(IMPLEMENTED)}."
        ) from None
