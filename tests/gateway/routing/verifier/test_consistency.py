"""Self-consistency: the agreement of sampled drafts with the draft, and its features."""

from gateway.routing.verifier import (
    FEATURE_NAMES,
    SampleSummary,
    answer_key,
    extract,
    summarise,
)


def call(name, arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


PARIS = call("weather", '{"city": "Paris", "days": 3}')
PARIS_SPELT = call("weather", '{"days": 3.0, "city": "paris"}')  # same after BFCL's rules
LONDON = call("weather", '{"city": "London", "days": 3}')
OTHER = call("news", '{"topic": "Paris"}')
BROKEN = call("weather", '{"city": ')


def test_no_samples_is_none_and_features_stay_zero():
    assert summarise([PARIS], []) is None
    x = dict(zip(FEATURE_NAMES, extract([{"role": "user", "content": "hi"}], [], [PARIS]), strict=True))
    assert (x["sc_present"], x["sc_agreement"], x["sc_distinct"]) == (0.0, 0.0, 0.0)


def test_normalised_values_and_call_order_agree():
    a, b = answer_key([PARIS, OTHER]), answer_key([OTHER, PARIS_SPELT])
    assert a == b
    assert answer_key([PARIS]) != answer_key([LONDON])


def test_agreement_name_agreement_and_distinct():
    s = summarise([PARIS], [[PARIS_SPELT], [LONDON], [OTHER], []])
    assert s == SampleSummary(k=4, agreement=0.25, name_agreement=0.5, distinct=4 / 5)
    all_same = summarise([PARIS], [[PARIS], [PARIS_SPELT]])
    assert all_same.agreement == 1.0 and all_same.distinct == 1 / 3


def test_broken_arguments_agree_only_with_the_same_broken_call():
    s = summarise([BROKEN], [[BROKEN], [PARIS]])
    assert s.agreement == 0.5 and s.name_agreement == 1.0


def test_no_call_draft_agrees_with_no_call_samples():
    s = summarise([], [[], [], [PARIS]])
    assert s.agreement == 2 / 3 and s.name_agreement == 2 / 3


def test_summary_features_and_record_round_trip():
    s = summarise([PARIS], [[PARIS], [LONDON]])
    x = dict(zip(FEATURE_NAMES, extract([{"role": "user", "content": "Paris weather"}], [], [PARIS], None, s), strict=True))
    assert x["sc_present"] == 1.0 and x["sc_agreement"] == 0.5
    assert x["sc_name_agreement"] == 1.0 and x["sc_distinct"] == 2 / 3
    assert SampleSummary.from_dict(s.to_dict()) == s
    for bad in (None, {}, {"k": 0, "agreement": 1, "name_agreement": 1, "distinct": 1},
                {"k": 2, "agreement": 1.5, "name_agreement": 1, "distinct": 1},
                {"k": "x", "agreement": 1, "name_agreement": 1, "distinct": 1}):
        assert SampleSummary.from_dict(bad) is None
