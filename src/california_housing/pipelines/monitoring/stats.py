"""Drift and error statistics of the monitoring pipeline: small pure functions.

The two-sample test is scipy's Kolmogorov-Smirnov test; the population stability index
is the symmetric Kullback-Leibler divergence of binned shares, computed with scipy's
``rel_entr`` on bins cut at the reference's quantiles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import rel_entr
from scipy.stats import ks_2samp, kstwo

#: Share given to an empty bin, so that the index stays finite (a common convention).
EMPTY_BIN_SHARE = 1e-4
#: Bins of the distributions figure, between the reference's 0.5 % and 99.5 % quantiles.
FIGURE_BINS = 40


@dataclass(frozen=True)
class Histogram:
    """Counts of a variable's current values between fixed, evenly spaced edges (a figure)."""

    edges: np.ndarray
    counts: np.ndarray

    @classmethod
    def between_quantiles(cls, reference: np.ndarray) -> Histogram:
        """Empty counts over FIGURE_BINS bins between the reference's 0.5 % and 99.5 % quantiles."""
        low, high = np.quantile(reference, [0.005, 0.995])
        edges = np.linspace(low, high if high > low else low + 1.0, FIGURE_BINS + 1)
        return cls(edges, np.zeros(FIGURE_BINS, int))

    def add(self, values: np.ndarray) -> None:
        """Count ``values`` (outside the edges: not counted)."""
        # evenly spaced edges, given as a range: numpy's fast path
        bins, span = len(self.edges) - 1, (self.edges[0], self.edges[-1])
        self.counts[:] += np.histogram(values, bins, span)[0]


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are cut at the reference's quantiles (fewer when values repeat), with open ends,
    so each holds about the same share of the reference.

    Args:
        reference: Values of the reference sample (finite).
        current: Values of the sample to compare (finite).
        bins: Number of quantile bins.

    Returns:
        ``sum((c - r) * ln(c / r))`` over the bins' shares; 0 for identical shares.
        Rules of thumb: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 large shift.
    """
    if len(reference) == 0 or len(current) == 0:
        raise ValueError("psi needs two non-empty samples.")
    inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_share = _shares(np.searchsorted(inner, reference, side="right"), len(inner) + 1)
    cur_share = _shares(np.searchsorted(inner, current, side="right"), len(inner) + 1)
    return float(np.sum(rel_entr(cur_share, ref_share) + rel_entr(ref_share, cur_share)))


def _shares(bin_index: np.ndarray, n_bins: int) -> np.ndarray:
    return _counted_shares(np.bincount(bin_index, minlength=n_bins))


def _counted_shares(counts: np.ndarray) -> np.ndarray:
    counts = counts.astype(float)
    shares = counts / counts.sum()
    shares = np.where(shares == 0, EMPTY_BIN_SHARE, shares)
    return shares / shares.sum()


def compare_distributions(
    reference: np.ndarray, current: np.ndarray, thresholds: Mapping[str, float]
) -> dict[str, Any]:
    """PSI and a two-sample KS test of one variable, and whether it drifted.

    A variable drifts when its PSI reaches ``thresholds["psi"]``, or when the KS test
    rejects equality (``p < thresholds["ks_pvalue"]``) with an effect of at least
    ``thresholds["ks_statistic"]``: with thousands of rows the test alone flags shifts
    too small to matter, so the statistic (the largest gap between the two cumulative
    distributions) must be large enough too.

    Args:
        reference: Reference values.
        current: Current values.
        thresholds: ``psi``, ``ks_pvalue``, ``ks_statistic`` and ``bins``.

    Returns:
        ``psi``, ``ks_statistic``, ``ks_pvalue``, ``drifted``, ``reference_mean``,
        ``current_mean``, ``reference_rows`` and ``current_rows``.
    """
    index = psi(reference, current, int(thresholds.get("bins", 10)))
    test = ks_2samp(reference, current)
    statistic, pvalue = float(test.statistic), float(test.pvalue)
    means = (float(np.mean(reference)), float(np.mean(current)))
    return _verdict(
        index, statistic, pvalue, thresholds, means=means, rows=(len(reference), len(current))
    )


def _verdict(
    index: float,
    statistic: float,
    pvalue: float,
    thresholds: Mapping[str, float],
    *,
    means: tuple[float, float],
    rows: tuple[int, int],
) -> dict[str, Any]:
    """One variable's comparison: its figures, the reference's and current ones, drifted or not.

    Drifted: PSI at or over ``thresholds["psi"]``, or a KS test both significant
    (``ks_pvalue``) and large (``ks_statistic``).
    """
    drifted = index >= thresholds["psi"] or (
        pvalue < thresholds["ks_pvalue"] and statistic >= thresholds["ks_statistic"]
    )
    return {
        "psi": round(index, 6),
        "ks_statistic": round(statistic, 6),
        "ks_pvalue": pvalue,
        "drifted": bool(drifted),
        "reference_mean": means[0],
        "current_mean": means[1],
        "reference_rows": rows[0],
        "current_rows": rows[1],
    }


def drift_table(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: list[str],
    thresholds: Mapping[str, float],
) -> pd.DataFrame:
    """Compare every listed column of two frames.

    Args:
        reference: Reference rows.
        current: Current rows.
        columns: Columns present in both frames.
        thresholds: As in :func:`compare_distributions`.

    Returns:
        One row per column (index ``feature``) with the columns of
        :func:`compare_distributions`.
    """
    missing = [c for c in columns if c not in reference or c not in current]
    if missing:
        raise ValueError(f"Columns {missing} are missing from the reference or the log.")
    rows = {
        column: compare_distributions(
            reference[column].to_numpy(float), current[column].to_numpy(float), thresholds
        )
        for column in columns
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("feature")


def error_summary(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and mean error (bias) of predictions against observed values.

    Args:
        observed: Ground truth.
        predicted: Predictions for the same rows.

    Returns:
        ``rmse``, ``mae`` and ``bias`` (mean of predicted - observed).
    """
    residual = np.asarray(predicted, float) - np.asarray(observed, float)
    return {
        "rmse": float(np.sqrt(np.mean(residual**2))),
        "mae": float(np.mean(np.abs(residual))),
        "bias": float(np.mean(residual)),
    }


def quantiles(values: np.ndarray, points: tuple[float, ...] = (0.5, 0.95, 0.99)) -> dict:
    """Named quantiles (``p50`` ...) and the maximum of a sample, or Nones when empty.

    Args:
        values: The sample.
        points: Quantiles to report.

    Returns:
        ``{"p50": ..., "p95": ..., "p99": ..., "max": ...}``.
    """
    names = [f"p{round(q * 100):d}" for q in points] + ["max"]
    if len(values) == 0:
        return dict.fromkeys(names)
    found = [*np.quantile(values, points), np.max(values)]
    return {name: round(float(v), 4) for name, v in zip(names, found, strict=True)}


#: scipy's ``ks_2samp`` computes exact p-values up to this many rows per sample, and Smirnov's
#: asymptotic ones above (its ``method="auto"``).
KS_EXACT_ROWS = 10_000


class RunningComparison:
    """One variable of the window against its reference, fed chunk by chunk.

    Gives what :func:`compare_distributions` gives on the whole window, without holding it.
    The reference's distinct values and bin edges cut the line into cells (each value, and
    each open interval between two of them); a chunk costs one ``searchsorted`` into them and
    a ``bincount``. From the cells' counts come the PSI's bin counts and the KS statistic
    (the largest gap between the two cumulative distributions is reached at one of the
    reference's values, as ``ks_2samp`` finds it); its p-value is Smirnov's asymptotic one,
    which is what ``ks_2samp`` uses for a sample of more than :data:`KS_EXACT_ROWS` rows. A
    window that small is kept and handed to :func:`compare_distributions` itself.

    Args:
        reference: Reference values (finite).
        bins: PSI bins, cut at the reference's quantiles.
    """

    def __init__(self, reference: np.ndarray, bins: int = 10) -> None:
        """Precompute the reference's bins, distinct values and cells."""
        self.given = np.asarray(reference, float)
        self.reference = np.sort(self.given)
        self.inner = np.unique(np.quantile(self.reference, np.linspace(0, 1, bins + 1)[1:-1]))
        self.points = np.unique(self.reference)
        self.grid = np.union1d(self.points, self.inner)
        # cell 2i: strictly between grid[i - 1] and grid[i]; cell 2i + 1: equal to grid[i]
        self.cells = np.zeros(2 * len(self.grid) + 1, dtype=np.int64)
        self.rows, self.total = 0, 0.0
        self.kept: list[np.ndarray] | None = []

    def add(self, values: np.ndarray) -> None:
        """Count one chunk of current values (finite)."""
        values = np.asarray(values, float)
        self.rows += len(values)
        self.total += float(values.sum())
        below = np.searchsorted(self.grid, values)
        exact = self.grid[np.minimum(below, len(self.grid) - 1)] == values
        self.cells += np.bincount(2 * below + exact, minlength=len(self.cells))
        if self.kept is not None:
            self.kept.append(values)
            if self.rows > KS_EXACT_ROWS:
                self.kept = None  # counts from now on

    def _counts(self, edges: np.ndarray, exact_side: str, length: int) -> np.ndarray:
        """Current values per index of ``searchsorted(edges, value, exact_side)``."""
        lower = np.concatenate([[-np.inf], self.grid])  # any value of an open cell compares so
        index = np.concatenate(
            [
                np.searchsorted(edges, lower, side="right"),
                np.searchsorted(edges, self.grid, side=exact_side),
            ]
        )
        weights = np.concatenate([self.cells[0::2], self.cells[1::2]])
        return np.bincount(index, weights=weights, minlength=length).round().astype(np.int64)

    def result(self, thresholds: Mapping[str, float]) -> dict[str, Any]:
        """The comparison, with the keys of :func:`compare_distributions`."""
        if self.rows == 0:
            raise ValueError("A comparison needs at least one current value.")
        if self.kept is not None:
            return compare_distributions(self.given, np.concatenate(self.kept), thresholds)
        n_ref, n_points = len(self.reference), len(self.points)
        bin_counts = self._counts(self.inner, "right", len(self.inner) + 1)
        up_to = self._counts(self.points, "left", n_points + 1)  # by #points < value
        below = self._counts(self.points, "right", n_points + 1)  # by #points <= value
        bin_index = np.searchsorted(self.inner, self.reference, side="right")
        ref_share = _shares(bin_index, len(bin_counts))
        cur_share = _counted_shares(bin_counts)
        index = float(np.sum(rel_entr(cur_share, ref_share) + rel_entr(ref_share, cur_share)))
        ref_cdf = np.searchsorted(self.reference, self.points, side="right") / n_ref
        at_points = np.cumsum(up_to)[:-1] / self.rows  # F_cur(point)
        before_next = np.cumsum(below)[1:-1] / self.rows  # F_cur just below the next point
        gaps = np.concatenate(
            [ref_cdf - at_points, ref_cdf[:-1] - before_next, [-below[0] / self.rows]]
        )
        statistic = float(max(gaps.max(), np.clip(-gaps.min(), 0, 1)))
        m, n = sorted([float(n_ref), float(self.rows)], reverse=True)
        pvalue = float(np.clip(kstwo.sf(statistic, np.round(m * n / (m + n))), 0, 1))
        means = (float(np.mean(self.given)), self.total / self.rows)
        return _verdict(index, statistic, pvalue, thresholds, means=means, rows=(n_ref, self.rows))
