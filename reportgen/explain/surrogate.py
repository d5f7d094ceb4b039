"""lime's surrogate fit without its per-candidate Ridge loop: same features, same coefficients, in milliseconds.

lime 0.2.0.1's `forward_selection` refits `Ridge(alpha=0)` for every (step, candidate) pair: seconds per label.
Here each candidate's weighted R^2 comes from one step of a pivoted Cholesky factorisation of the weighted,
centred Gram matrix (computed once, shared by all labels). Where rounding could decide a candidate's rank (a
near-tie with the best, or a column collinear with the chosen ones, where sklearn's own result is rounding
noise), lime's Ridge fit scores it, so the pick is lime's exactly; once lime keeps a collinear column, the
remaining steps are lime's own loop, as is everything for labels without variance (a saturated class), sparse
data, non-finite values or bad weights. The Ridge fits (highest_weights' and the final surrogate) share the
label-independent moments across labels. Values agree with lime's to about 1e-15; only coefficients whose |weights|
tie to the last bits may be listed in another order than lime's (whose order there is rounding too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
from lime import lime_base
from sklearn.linear_model import Ridge

LIME_START = -100000000  # lime's initial best score: a candidate must beat it strictly
TIE_TOL = 1e-9  # R^2 gap below which sklearn's rounding could reorder candidates: those are refitted by sklearn
COLLINEAR_TOL = 1e-5  # residual/total weighted square norm under which a column counts as collinear
# Up to this many columns the whole Gram matrix is computed once per data set and shared by all labels: one
# cache-friendly BLAS-3 pass instead of a pass over the data per selection step and label.
GRAM_COLUMNS = 256


def _lime_score(data: Any, labels: np.ndarray, weights: np.ndarray, columns: list[int]) -> float:
    """One candidate's score exactly as lime's forward_selection computes it."""
    clf = Ridge(alpha=0, fit_intercept=True)
    clf.fit(data[:, columns], labels, sample_weight=weights)
    return clf.score(data[:, columns], labels, sample_weight=weights)


def _lime_steps(data: Any, labels: np.ndarray, weights: np.ndarray, used: list[int], steps: int) -> list[int]:
    """lime's own loop, continued from `used` for `steps` more picks."""
    for _ in range(steps):
        max_, best = LIME_START, 0
        for feature in range(data.shape[1]):
            if feature in used:
                continue
            score = _lime_score(data, labels, weights, used + [feature])
            if score > max_:
                best, max_ = feature, score
        used = used + [best]
    return used


_CONTROLLER: Any = None


def one_blas_thread() -> Any:
    """Context manager limiting BLAS to one thread while it is open."""
    # These products are small, and OpenBLAS threads spinning against busy cores (the model's, other processes')
    # were measured 5-15x slower than one thread on a 2-core machine; the limit costs about 0.05-0.4 ms.
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController  # sklearn's own dependency

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


class Moments:
    """The label-independent part of a weighted least-squares fit: weighted means and centred, weighted columns."""

    def __init__(self, data: np.ndarray, weights: np.ndarray):
        self.x = np.array(data, dtype=np.float64)  # a copy: the caller may refill its buffer for the next item
        self.w = np.asarray(weights, dtype=np.float64).copy()
        total = self.w @ self.x  # one BLAS pass; also non-finite wherever x is (0 * nan is nan)
        finite = np.all(np.isfinite(self.w)) and np.all(np.isfinite(total))
        self.usable = bool(finite and np.all(self.w >= 0) and self.w.sum() > 0)
        self.sw = np.sqrt(np.maximum(self.w, 0))
        self.mean = total / self.w.sum() if self.usable else np.zeros(self.x.shape[1])
        # Centre first, then scale by sqrt(w): sklearn's order (its weighted mean may differ in the last bit).
        self.xw = np.subtract(self.x, self.mean)
        self.xw *= self.sw[:, None]
        self.sq = np.einsum("ij,ij->j", self.xw, self.xw)
        self._gram: np.ndarray | None = None

    @classmethod
    def of(cls, data: Any, weights: Any) -> Moments | None:
        """Moments of dense 2-D data with at least two rows, else None (lime's own code handles the rest)."""
        if scipy.sparse.issparse(data) or np.ndim(data) != 2 or np.shape(data)[0] < 2:
            return None
        return cls(data, weights)

    def matches(self, data: Any, weights: Any) -> bool:
        """Whether these moments belong to this data and these weights (a reused buffer may hold new values)."""
        same_shapes = np.shape(data) == self.x.shape and np.shape(weights) == self.w.shape
        dense = not scipy.sparse.issparse(data)
        return dense and same_shapes and np.array_equal(self.w, weights) and np.array_equal(self.x, data)

    def fits(self, labels: np.ndarray) -> bool:
        """Whether the vectorised fit reproduces sklearn's for these labels: finite, not (nearly) constant."""
        # With std/|mean| under 1e-10, sklearn's R^2 is decided by rounding in its predictions: only it can match.
        tss = self.w @ (labels - np.average(labels, weights=self.w)) ** 2
        return self.usable and bool(np.all(np.isfinite(labels))) and tss > 1e-20 * (self.w @ labels**2)

    def gram(self, columns: np.ndarray) -> np.ndarray:
        """Centred weighted Gram matrix of these columns."""
        if self.x.shape[1] > GRAM_COLUMNS and len(columns) <= 32:
            return self.xw[:, columns].T @ self.xw[:, columns]
        return self._full_gram()[np.ix_(columns, columns)]

    def gram_column(self, q: int) -> np.ndarray:
        """Every column's centred weighted inner product with column q."""
        return self._full_gram()[:, q] if self.x.shape[1] <= GRAM_COLUMNS else self.xw.T @ self.xw[:, q]

    def _full_gram(self) -> np.ndarray:
        """The whole centred weighted Gram matrix, computed once."""
        if self._gram is None:
            self._gram = self.xw.T @ self.xw
        return self._gram

    def ridge(self, labels: np.ndarray, columns: np.ndarray, alpha: float) -> tuple[np.ndarray, np.float64, float]:
        """(coef, intercept, weighted R^2) of sklearn's Ridge(alpha) with intercept on these columns."""
        everything = len(columns) == self.x.shape[1] and np.array_equal(columns, np.arange(len(columns)))
        xw = self.xw if everything else self.xw[:, columns]  # no copy of the whole matrix per label
        x = self.x if everything else self.x[:, columns]
        y = np.asarray(labels, dtype=np.float64)
        y_mean = np.average(y, weights=self.w)
        a = self.gram(columns)
        a.flat[:: len(columns) + 1] += alpha
        coef = scipy.linalg.solve(a, xw.T @ ((y - y_mean) * self.sw), assume_a="pos", overwrite_a=True)
        intercept = y_mean - self.mean[columns] @ coef
        # r2_score's arithmetic on sklearn's predictions, so that rounding in them weighs the same.
        numerator = self.w @ (y - (x @ coef + intercept)) ** 2
        return coef, intercept, float(1 - numerator / (self.w @ (y - y_mean) ** 2))  # fits(): a nonzero denominator


def forward_selection(
    data: Any, labels_column: Any, weights: Any, num_features: int, moments: Moments | None = None
) -> np.ndarray:
    """The features lime's `LimeBase.forward_selection` picks, in its order, without refitting every candidate."""
    labels = np.asarray(labels_column)
    steps = min(num_features, data.shape[1])
    if steps <= 0:
        return np.array([])
    with one_blas_thread():
        m = moments if moments is not None else Moments.of(data, weights)
        return np.array(_forward(m, data, labels, weights, steps))


def _forward(m: Moments | None, data: Any, labels: np.ndarray, weights: Any, steps: int) -> list[int]:
    """Greedy selection by residual correlation; sklearn scores the candidates that rounding could reorder."""
    # Gram-Schmidt in Gram-matrix space (a pivoted Cholesky): no pass over the data per step once the Gram is known.
    y = labels.astype(np.float64)
    if m is None or not m.fits(y):
        return _lime_steps(data, labels, weights, [], steps)
    yw = (y - np.average(y, weights=m.w)) * m.sw  # weighted residual of the intercept-only model
    tss = rss = yw @ yw
    tie_tol = TIE_TOL * max(1.0, np.sqrt((m.w @ y**2) / tss))  # sklearn's R^2 rounding grows with |mean|/std
    total = m.sq + m.w.sum() * m.mean**2  # weighted square norms of the uncentred columns
    resid_sq = m.sq.copy()  # square norms of the centred columns with the chosen span projected out
    corr = m.xw.T @ yw  # each column's inner product with the residual
    along = np.empty((steps, data.shape[1]))  # row i: each column's component along the i-th chosen direction
    used: list[int] = []
    for step in range(steps):
        free = np.ones(data.shape[1], bool)
        free[used] = False
        collinear = free & (resid_sq <= COLLINEAR_TOL * total)
        ok = free & ~collinear
        scores = np.full(data.shape[1], np.nan)
        # R^2 with column j added: the residual sum of squares drops by <x_j, r>^2 / |x_j projected out|^2.
        scores[ok] = 1 - (rss - corr[ok] ** 2 / resid_sq[ok]) / tss
        exact = np.zeros(data.shape[1], bool)
        pending = np.flatnonzero(collinear)
        while True:
            for j in pending:
                scores[j] = _lime_score(data, labels, weights, used + [int(j)])
            exact[pending] = True
            top = np.nanmax(scores[free]) if np.any(free & ~np.isnan(scores)) else np.nan
            close = free & (scores >= top - tie_tol)
            # A lone leader beyond the tolerance needs no refit; a crowd near the top is settled by sklearn.
            pending = np.flatnonzero(close & ~exact)
            if np.count_nonzero(close) <= 1 or pending.size == 0:
                break
        # lime's rule: the first strict maximum above LIME_START, else feature 0 (even if already used).
        above = np.flatnonzero(free & (scores > LIME_START))
        best = int(above[np.argmax(scores[above])]) if above.size else 0
        if best in used or collinear[best]:
            # lime keeps a column sklearn cannot fit cleanly: from here its scores are rounding, so run its loop.
            return _lime_steps(data, labels, weights, used + [best], steps - step - 1)
        used.append(best)
        pivot = np.sqrt(resid_sq[best])
        along[step] = (m.gram_column(best) - along[:step].T @ along[:step, best]) / pivot
        reduction = corr[best] / pivot  # the residual's component along the new direction
        resid_sq -= along[step] ** 2
        corr -= along[step] * reduction
        rss -= reduction**2
    return used


class FastLimeBase(lime_base.LimeBase):
    """lime's LimeBase with vectorised forward selection and label-shared Ridge fits; same results as lime's."""

    _moments: Moments | None = None

    def moments(self, data: Any, weights: Any) -> Moments | None:
        """Moments for this data and weights, reused across the labels of one explanation; None if sparse."""
        if self._moments is None or not self._moments.matches(data, weights):
            self._moments = Moments.of(data, weights)
        return self._moments

    def feature_selection(self, data: Any, labels: Any, weights: Any, num_features: int, method: str) -> Any:
        """lime's feature_selection; 'forward_selection' and 'highest_weights' on dense data are computed here."""
        with one_blas_thread():
            return self._select(self.moments(data, weights), data, labels, weights, num_features, method)

    def _select(self, m: Moments | None, data: Any, labels: Any, weights: Any, num_features: int, method: str) -> Any:
        """feature_selection with the moments already looked up."""
        if method == "auto":
            method = "forward_selection" if num_features <= 6 else "highest_weights"
        y = np.asarray(labels, dtype=np.float64)
        if m is None or method not in ("forward_selection", "highest_weights") or not m.fits(y):
            return super().feature_selection(data, labels, weights, num_features, method)
        if method == "forward_selection":
            return np.array(_forward(m, data, np.asarray(labels), weights, min(num_features, data.shape[1])))
        coef, _, _ = m.ridge(y, np.arange(data.shape[1]), 0.01)
        feature_weights = sorted(zip(range(data.shape[1]), coef * m.x[0]), key=lambda x: np.abs(x[1]), reverse=True)
        return np.array([x[0] for x in feature_weights[:num_features]])

    def _fit(self, data: Any, labels: Any, weights: Any, num_features: int, method: str) -> tuple | None:
        """(features, coef, intercept, score, local_pred) of lime's default surrogate; None where lime must fit."""
        m = self.moments(data, weights)
        if m is None or not m.fits(np.asarray(labels, dtype=np.float64)):
            return None
        used = self._select(m, data, labels, weights, num_features, method)
        coef, intercept, score = m.ridge(labels, np.asarray(used), 1.0)
        return used, coef, intercept, score, np.atleast_1d(m.x[0, used] @ coef + intercept)

    def explain_instance_with_data(
        self,
        neighborhood_data: Any,
        neighborhood_labels: Any,
        distances: Any,
        label: int,
        num_features: int,
        feature_selection: str = "auto",
        model_regressor: Any = None,
    ) -> tuple[Any, list[tuple[Any, Any]], float, np.ndarray]:
        """lime's explain_instance_with_data; its default Ridge(alpha=1) surrogate reuses the shared moments."""
        weights = self.kernel_fn(distances)
        labels_column = neighborhood_labels[:, label]
        fit = None
        if model_regressor is None:
            with one_blas_thread():  # once per call: each limit costs about 0.05-0.4 ms
                fit = self._fit(neighborhood_data, labels_column, weights, num_features, feature_selection)
        if fit is None:
            args = (neighborhood_data, neighborhood_labels, distances, label, num_features, feature_selection)
            return super().explain_instance_with_data(*args, model_regressor)
        used, coef, intercept, score, local_pred = fit
        if self.verbose:
            print("Intercept", intercept)
            print("Prediction_local", local_pred)
            print("Right:", neighborhood_labels[0, label])
        return intercept, sorted(zip(used, coef), key=lambda x: np.abs(x[1]), reverse=True), score, local_pred
