"""The instance generators (nyop_pg.instances, for benchmarks and tests), checked against their documented
shapes without a server: random_pricing_instance (the paper's benchmarks) and
classic_instance (the field's classic MCKP classes, issue 16)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nyop_pg import instances


def test_random_pricing_instance_shape():
    for seed in range(5):
        W, P, bid = instances.random_pricing_instance(6, 5, 1000, seed)
        assert W.shape == P.shape == (6, 5) and bid == 1000.0 and isinstance(bid, float)
        # profits ω_i · j with ω normalised: Σ_i p_i,m = m
        omega = P[:, 0]
        assert omega.sum() == pytest.approx(1.0) and (omega >= 0.01 / 6 * 0.99).all()
        assert P == pytest.approx(omega[:, None] * np.arange(1, 6)[None, :])
        # weights P κ_i (j/m)²: full price = Σ_i w_i,m in [1.1, 1.5] · bid, κ_i / ω_i in [0.8, 1.25] / norm
        full = W[:, -1].sum()
        assert 1100 <= full <= 1500
        kappa = W[:, -1] / full
        assert kappa.sum() == pytest.approx(1.0)
        assert W == pytest.approx(full * kappa[:, None] * (np.arange(1, 6)[None, :] / 5) ** 2)
        ratio = (kappa / omega) / (kappa / omega).min()
        assert ratio.max() <= 1.25 / 0.8 + 1e-9
    a = instances.random_pricing_instance(4, 3, 500, 11)
    b = instances.random_pricing_instance(4, 3, 500, np.random.default_rng(11))
    assert all(np.array_equal(x, y) for x, y in zip(a[:2], b[:2]))


def cap_of(w, p):
    best = [min(w[i][j] for j in range(len(p[i])) if p[i][j] == max(p[i])) for i in range(len(w))]
    return math.floor((sum(min(r) for r in w) + sum(best)) / 2)


@pytest.mark.parametrize("kind", instances.CLASSIC_KINDS)
def test_classic_instance_classes(kind):
    R = 1000
    for seed in range(3):
        w, p, cap = instances.classic_instance(kind, 7, 6, R, seed)
        assert w.shape == p.shape == (7, 6) and w.dtype == p.dtype == np.float64
        assert isinstance(cap, float) and cap == cap_of(w.tolist(), p.tolist())
        assert (w == np.round(w)).all() and (p == np.round(p)).all() and (w >= 1).all() and (p >= 1).all()
        if kind == "uncorrelated":
            assert w.max() <= R and p.max() <= R
        elif kind == "weakly":
            assert w.max() <= R and ((p == 1) | (np.abs(p - w) <= 10)).all() and (p != w).any()
        elif kind == "strongly":
            d = np.diff(np.concatenate([np.zeros((7, 1)), w], axis=1), axis=1)
            assert (d >= 1).all() and (d <= 2 * R // 6).all()
            assert (np.diff(d, axis=1) >= 0).all()                 # decreasing efficiency: w' increasing
            assert (p == np.cumsum(d + 10, axis=1)).all()
        elif kind == "subset_sum":
            assert (p == w).all() and w.max() <= R
        elif kind == "zigzag":
            assert (np.diff(w, axis=1) >= 0).all() and (np.diff(p, axis=1) >= 0).all()
            assert w.max() <= R and p.max() <= R
    a = instances.classic_instance(kind, 3, 4, 50, 9)
    b = instances.classic_instance(kind, 3, 4, 50, np.random.default_rng(9))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_classic_instance_capacity_uses_the_lightest_most_profitable_item():
    # the formula on a hand-made instance: classes [w, p]: (1,5) (3,9) (2,9) | (4,1) (6,1)
    w = [[1.0, 3.0, 2.0], [4.0, 6.0]]
    p = [[5.0, 9.0, 9.0], [1.0, 1.0]]
    assert cap_of(w, p) == math.floor(((1 + 4) + (2 + 4)) / 2) == 5


def test_classic_instance_strongly_small_range():
    # 2R/m < 1: the item widths are 1
    w, p, _ = instances.classic_instance("strongly", 2, 8, 3, 0)
    assert (w == np.arange(1, 9)[None, :]).all() and (p == 11 * np.arange(1, 9)[None, :]).all()


def test_classic_instance_unknown_kind():
    with pytest.raises(ValueError, match="unknown instance class 'hard' \\(expected one of uncorrelated, "
                                                    "weakly, strongly, subset_sum, zigzag\\)"):
        instances.classic_instance("hard", 2, 2, 10, 0)
