"""The learned verifier: s = P(edge draft acceptable | request, draft, log-probs). Pure, no I/O.

Public surface (import these names, not the modules)::

    from gateway.routing.verifier import VerifierModel, features, prepare

    ctx = prepare(messages, tools)                   # once per request (pre-draft skip: request part)
    x = features(ctx, draft_tool_calls, LogprobSummary(mean, min, n_tokens) or None,
                 summarise(draft_tool_calls, sampled_drafts_tool_calls) or None)
    model = VerifierModel.from_json(stored_text, edge_model=edge_model_name)
    s = model.score(x)                               # in [0, 1], pure Python

``fit`` (numpy) turns logged (features, label) pairs into a model; ``to_json`` stores it. The
label: ``calls_cover(edge_calls, cloud_calls)`` (the edge made the cloud's calls; looser than
``calibration.calls_agree`` where BFCL is looser too, and closer to ground truth).
Feature meanings and the reason each is there: ``FEATURE_DOCS``.
"""

from gateway.routing.verifier.consistency import SampleSummary, answer_key, summarise
from gateway.routing.verifier.features import (
    DRAFT_FEATURES,
    FEATURE_DOCS,
    FEATURE_NAMES,
    LOGPROB_FEATURES,
    REQUEST_FEATURES,
    SAMPLE_FEATURES,
    LogprobSummary,
    RequestContext,
    clear_caches,
    extract,
    features,
    prepare,
)
from gateway.routing.verifier.label import calls_cover
from gateway.routing.verifier.model import (
    SCHEMA_VERSION,
    VerifierError,
    VerifierModel,
    fit,
)

__all__ = [
    "DRAFT_FEATURES",
    "FEATURE_DOCS",
    "FEATURE_NAMES",
    "LOGPROB_FEATURES",
    "REQUEST_FEATURES",
    "SAMPLE_FEATURES",
    "SCHEMA_VERSION",
    "LogprobSummary",
    "RequestContext",
    "SampleSummary",
    "VerifierError",
    "VerifierModel",
    "answer_key",
    "calls_cover",
    "clear_caches",
    "extract",
    "features",
    "fit",
    "prepare",
    "summarise",
]
