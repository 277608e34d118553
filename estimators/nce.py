"""NCE: Negative Conditional Entropy (Tran, Nguyen, Hassner, ICCV 2019).

Each target sample gets a hard source label z_i = argmax_z θ(x_i)_z from the source head. With the
empirical joint P̂(y, z) = #{i: y_i = y, z_i = z} / N and its marginal P̂(z),

    NCE = −H(Y | Z) = Σ_z P̂(z) Σ_y P̂(y | z) log P̂(y | z),

which lies in [−H(Y), 0] (≤ 0, higher is better): 0 when the source label determines the target label.
"""

from __future__ import annotations

import torch

from estimators._data import ScoringData
from estimators._params import Options
from estimators._registry import register_scorer

__all__ = ["nce"]


@register_scorer(
    "nce",
    needs=("source_probs", "labels"),
    constraints={"source_labels": Options(("argmax",))},
    citation=(
        "Tran, Nguyen, Hassner. Transferability and Hardness of Supervised Classification Tasks. ICCV 2019."
    ),
    version="1",
)
def nce(data: ScoringData, *, source_labels: str = "argmax") -> float:
    """Negative conditional entropy of the target labels given the source head's hard predictions.

    Args:
        data: validated inputs; uses ``source_probs`` ``(N, C_s)`` and the label codes ``(N,)``.
        source_labels: how hard source labels are obtained; ``"argmax"`` takes the most probable source
            class, the first index on ties (as ``numpy.argmax`` in the reference).

    Returns:
        −H(Y|Z) in nats, in [−log C, 0].

    Cost: O(N·C_s) for the argmax, O(N + C·C_s) for the rest; runs on the device of the inputs.
    """
    del source_labels  # only "argmax" exists (checked by the constraint)
    probs = data.probs
    z = torch.argmax(probs, dim=1)  # first maximal index on ties
    c_s = probs.shape[1]
    # Joint counts of (y, z) as a flat bincount: exact integers, deterministic on every device.
    counts = torch.bincount(data.codes * c_s + z, minlength=data.num_classes * c_s)
    joint = counts.reshape(data.num_classes, c_s).to(torch.float64) / data.n  # P̂(y, z)
    p_z = joint.sum(dim=0)
    cond = joint / torch.where(p_z > 0, p_z, torch.ones_like(p_z))  # P̂(y | z); empty z have joint 0
    # P̂(z) · P̂(y|z) log P̂(y|z) summed; xlogy(0, 0) = 0 handles empty cells and empty source classes.
    return float((p_z * torch.special.xlogy(cond, cond).sum(dim=0)).sum())
