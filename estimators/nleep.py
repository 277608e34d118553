"""NLEEP (𝒩LEEP): LEEP with a Gaussian mixture in place of the source head (Li et al., CVPR 2021).

Models without a usable source head (self-supervised ones) can still be scored: fit a Gaussian mixture
with ``components_per_class · C`` components to the (PCA-reduced) target features, use the component
posteriors p(k | x_i) as the dummy-label distribution θ(x_i), and apply the LEEP construction
(:func:`estimators.leep.expected_empirical_prediction`).

The fit follows the SFDA reference call for call so that its numbers are reproduced: scikit-learn
``PCA(n_components=pca_variance)`` (keep that fraction of the variance, default solver), then
``GaussianMixture(n_components=K, random_state=...)`` with every other default (full covariances,
k-means initialisation, one initialisation, 100 EM iterations, ``reg_covar=1e-6``).

Two deliberate deviations, both invisible at the scale of real float32 features (≤ 1e-10 relative on
the test vectors, whose tolerance is 1e-3):

* Units. sklearn's ``reg_covar`` is an absolute variance, so the reference's score depends on the units
  of the features, blurs every component for tiny features and can fail (non-positive-definite
  covariance) for large ones. The features are scaled by a power of two to a maximum magnitude in
  [0.5, 1), and the PCA output divided by its root-mean-square, before the mixture fit.
* Precision. The features are rounded to float32 precision (see :func:`_round_to_float32`), so that a
  float64 array and its float32 copy reach the same local optimum; float32 features are unchanged.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from estimators._api import ScoreResult
from estimators._data import ScoringData
from estimators._params import BOOL, Interval
from estimators._registry import register_scorer
from estimators.errors import DegenerateInputError, NumericalError
from estimators.leep import expected_empirical_prediction

__all__ = ["nleep"]


def _round_to_float32(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32 precision (24 significant bits), returned as float64.

    The mixture fit is discontinuous in its input (k-means++ seeding draws against distance
    thresholds, k-means assigns hard labels), so a float64 array and its float32 copy can land in
    different local optima. Rounding first makes both score identically; features are produced in
    float32 anyway (the test vectors' are, so parity is unaffected). A power-of-two pre-scaling, exact and
    commuting with the rounding, keeps values inside float32's range; the pipeline is invariant to it
    because PCA commutes with it and the RMS normalisation removes it.
    """
    peak = float(np.max(np.abs(x)))
    ref = float(np.float32(peak)) if peak < 1e38 else peak  # the same for x and its float32 copy
    exponent = int(np.frexp(ref)[1]) if ref > 0 else 0
    scaled = np.ldexp(x, -exponent)  # max |value| in [0.5, 1]
    out: np.ndarray = scaled.astype(np.float32).astype(np.float64)
    return out


@register_scorer(
    "nleep",
    needs=("features", "labels"),
    constraints={
        "log": BOOL,
        "pca_variance": Interval(0.0, 1.0, closed="neither"),
        "components_per_class": Interval(1, None, integer=True),
        "random_state": Interval(0, 2**32 - 1, integer=True),
    },
    citation="Li, Jia, Zhu, Sun, Hu, Lin, Gong. Ranking Neural Checkpoints. CVPR 2021.",
    version="1",
)
def nleep(
    data: ScoringData,
    *,
    log: bool = True,
    pca_variance: float = 0.8,
    components_per_class: int = 5,
    random_state: int = 0,
) -> ScoreResult:
    """NLEEP: LEEP over the posteriors of a Gaussian mixture fitted to the target features.

    Args:
        data: validated inputs; uses ``features`` ``(N, D)`` and the label codes ``(N,)``.
        log: ``True`` (paper, google): mean of log EEP_i. ``False``: mean EEP_i without the log (SFDA
            family; what the test vectors hold).
        pca_variance: fraction of the feature variance the PCA keeps, in (0, 1).
        components_per_class: K / C, mixture components per target class (SFDA's evaluation scripts use
            1 for Food-101 and Pets, 5 elsewhere).
        random_state: seed of the mixture's k-means initialisation (the reference leaves it unset, which
            makes it non-deterministic). The result depends on sample order through that initialisation.

    Returns:
        The score with ``info``: ``pca_components`` (d'), ``mixture_components`` (K), ``converged``
        (whether EM met its tolerance within 100 iterations) and ``dropped_components`` (components with
        zero posterior mass, left out as in LEEP).

    Raises:
        DegenerateInputError: every feature is constant, or N < K (a K-component mixture cannot be fitted).

    Cost: PCA O(N·D·min(N, D)); EM O(iterations · N·K·d'²) time and O(K·d'²) memory, the slowest of the
    classical scorers.
    """
    x = data.features_numpy
    n, k = data.n, components_per_class * data.num_classes
    if bool(np.all(x.max(axis=0) == x.min(axis=0))):
        raise DegenerateInputError(
            "'nleep' needs features that vary: every feature is constant", param="features"
        )
    if n < k:
        raise DegenerateInputError(
            f"'nleep' fits {components_per_class} mixture components per class ({k} for {data.num_classes} "
            f"classes) and needs at least that many samples, got {n}; lower components_per_class",
            param="labels",
        )
    reduced = PCA(n_components=pca_variance).fit_transform(_round_to_float32(x))
    rms = float(np.sqrt(np.mean(np.square(reduced))))
    if not rms > 0:
        raise DegenerateInputError("'nleep': the features have no variance after PCA", param="features")
    reduced = reduced / rms
    with warnings.catch_warnings():
        # Expected on small or clustered inputs: fewer distinct points than k-means clusters, or EM not
        # converging in 100 iterations (reported in info["converged"] instead).
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = GaussianMixture(n_components=k, random_state=random_state)
        try:
            gmm.fit(reduced)
        except ValueError as exc:  # sklearn's "ill-defined empirical covariance" after a failed Cholesky
            raise NumericalError(
                f"'nleep': the Gaussian mixture fit broke down ({exc})", scorer="nleep"
            ) from None
        posteriors = gmm.predict_proba(reduced)
    probs = torch.from_numpy(posteriors).to(data.device)
    eep, dropped = expected_empirical_prediction(probs, data.codes, data.num_classes)
    value = torch.log(eep).mean() if log else eep.mean()
    return ScoreResult(
        float(value),
        {
            "pca_components": int(reduced.shape[1]),
            "mixture_components": k,
            "converged": bool(gmm.converged_),
            "dropped_components": dropped,
        },
    )
