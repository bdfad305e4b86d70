"""The verifier's logistic regression: fit, store, load, score."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing.verifier import (
    DRAFT_FEATURES,
    FEATURE_NAMES,
    REQUEST_FEATURES,
    SCHEMA_VERSION,
    VerifierError,
    VerifierModel,
    fit,
)

N = len(FEATURE_NAMES)
GROUNDED = FEATURE_NAMES.index("draft_values_grounded")
NO_CALL = FEATURE_NAMES.index("draft_no_call")


def synthetic(n, seed=3, separable=True):
    """Rows where the label is 'values grounded above 0.5' (plus noise features)."""
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        x = [rng.random() for _ in range(N)]
        label = x[GROUNDED] > 0.5
        if separable:
            x[GROUNDED] = 0.55 + 0.45 * x[GROUNDED] if label else 0.45 * x[GROUNDED]
        rows.append(x)
        labels.append(label)
    return rows, labels


def auc(scores, labels):
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def test_fitted_model_separates_a_separable_set():
    rows, labels = synthetic(300)
    model = fit(rows, labels, edge_model="edge-1b", l2=0.1)
    test_rows, test_labels = synthetic(200, seed=9)
    scores = [model.score(x) for x in test_rows]
    assert auc(scores, test_labels) > 0.99
    assert all((s > 0.5) == y for s, y in zip(scores, test_labels, strict=True))
    top = max(zip(model.weights, model.features, strict=True), key=lambda t: abs(t[0]))
    assert top[1] == "draft_values_grounded" and top[0] > 0
    assert model.n_train == 300 and model.positives == sum(labels)


def test_stronger_penalty_shrinks_weights():
    rows, labels = synthetic(200, separable=False)
    loose = fit(rows, labels, edge_model="e", l2=0.1)
    tight = fit(rows, labels, edge_model="e", l2=100.0)
    assert sum(w * w for w in tight.weights) < sum(w * w for w in loose.weights)


def test_fit_to_json_from_json_gives_identical_scores():
    rows, labels = synthetic(150, separable=False)
    model = fit(rows, labels, edge_model="Salesforce_xLAM-1b-fc-r", features=DRAFT_FEATURES)
    text = model.to_json()
    loaded = VerifierModel.from_json(text, edge_model="Salesforce_xLAM-1b-fc-r")
    assert loaded == model
    assert [loaded.score(x) for x in rows] == [model.score(x) for x in rows]
    doc = json.loads(text)
    assert doc["schema_version"] == SCHEMA_VERSION and doc["features"] == list(DRAFT_FEATURES)


def test_request_only_model_ignores_the_draft_part():
    rows, labels = synthetic(100, separable=False)
    model = fit(rows, labels, edge_model="e", features=REQUEST_FEATURES)
    x = rows[0][:]
    changed = x[:]
    changed[NO_CALL] = 1.0 - changed[NO_CALL]
    assert model.score(x) == model.score(changed)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=99), "schema version"),
        (lambda d: d.update(edge_model="other"), "fitted for edge model"),
        (lambda d: d.update(features=["no_such_feature"] + d["features"][1:]), "unknown features"),
        (lambda d: d.update(weights=d["weights"][:-1]), "differ in length"),
        (lambda d: d.update(scale=[0.0] * len(d["scale"])), "non-positive scale"),
        (lambda d: d.pop("bias"), "missing or malformed"),
        (lambda d: d.update(schema="something.else"), "not a netgpt.verifier"),
    ],
)
def test_from_json_refuses_what_it_cannot_trust(mutate, message):
    rows, labels = synthetic(60, separable=False)
    doc = json.loads(fit(rows, labels, edge_model="e").to_json())
    mutate(doc)
    with pytest.raises(VerifierError, match=message):
        VerifierModel.from_json(json.dumps(doc), edge_model="e")


def test_from_json_refuses_non_json():
    with pytest.raises(VerifierError, match="not JSON"):
        VerifierModel.from_json("{nope")


@pytest.mark.parametrize(
    ("rows", "labels", "kwargs", "message"),
    [
        ([], [], {}, "some rows"),
        ([[0.0] * N], [1, 0], {}, "as many labels"),
        ([[0.0] * 3], [1], {}, "finite vectors"),
        ([[math.nan] * N], [1], {}, "finite vectors"),
        ([[0.0] * N], [1], {"l2": 0.0}, "l2"),
        ([[0.0] * N], [1], {"features": ("bogus",)}, "unknown feature"),
    ],
)
def test_fit_rejects_bad_input(rows, labels, kwargs, message):
    with pytest.raises(VerifierError, match=message):
        fit(rows, labels, edge_model="e", **kwargs)


def test_single_class_fit_stays_finite():
    rows, _ = synthetic(30)
    model = fit(rows, [True] * 30, edge_model="e")
    assert all(0.5 < model.score(x) <= 1.0 for x in rows)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(deadline=None, max_examples=200)
@given(
    weights=st.lists(finite, min_size=N, max_size=N),
    bias=finite,
    x=st.lists(st.floats(allow_nan=False), min_size=N, max_size=N),
)
def test_scores_are_probabilities_for_any_weights_and_inputs(weights, bias, x):
    model = VerifierModel("e", FEATURE_NAMES, (0.0,) * N, (1.0,) * N, tuple(weights), bias)
    s = model.score(x)
    assert 0.0 <= s <= 1.0 and not math.isnan(s)


@settings(deadline=None, max_examples=100)
@given(seed=st.integers(0, 10_000), n=st.integers(5, 60))
def test_fitted_scores_are_probabilities(seed, n):
    rows, labels = synthetic(n, seed=seed, separable=False)
    model = fit(rows, labels, edge_model="e")
    assert all(0.0 <= model.score(x) <= 1.0 for x in rows)
