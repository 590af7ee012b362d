"""The pure matching engine: placeholders, blocking, comparison levels, probabilities, EM training."""

import random
import string

import numpy as np
import pytest

from leadflow.hygiene.matching import (
    DEFAULT_CONFIG,
    FieldSpec,
    MatchConfig,
    Matcher,
    company_key,
    is_placeholder,
)


@pytest.mark.parametrize(
    "value",
    ["", "  ", "test", "TEST", "n/a", "N/A", "asdf", "qwerty", "0000000", "000-000", "123456", "xxxx", "none",
     "test@test.com", "asdf@gmail.com", "noemail@company.com", "john@test.com", "-", "?"],
)  # fmt: skip
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["Anna", "Smith", "Acme", "+4930123456", "anna.smith@acme.io", "Lee", "Ng"])
def test_real_values_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_company_key_ignores_legal_suffixes_case_and_accents() -> None:
    assert company_key("Acme Inc.") == company_key("ACME GmbH") == company_key("acme ltd") == "acme"
    assert company_key("Müller AG") == "muller"
    assert company_key("Acme") != company_key("Apex Inc")


def _people() -> list[dict[str, str]]:
    return [
        {
            "first_name": "Jonathan",
            "last_name": "Smith",
            "email": "jon@acme.io",
            "company": "Acme Inc",
            "city": "Berlin",
        },
        {
            "first_name": "Jonathon",
            "last_name": "Smyth",
            "email": "",
            "company": "ACME GmbH",
            "city": "Berlin",
        },
        {
            "first_name": "Maria",
            "last_name": "Garcia",
            "email": "maria@globex.com",
            "company": "Globex",
            "city": "Madrid",
        },
        {
            "first_name": "test",
            "last_name": "test",
            "email": "test@test.com",
            "company": "n/a",
            "phone": "0000000",
        },
        {
            "first_name": "Test",
            "last_name": "Test",
            "email": "test@test.com",
            "company": "N/A",
            "phone": "0000000",
        },
        {
            "first_name": "asdf",
            "last_name": "asdf",
            "email": "asdf@asdf.com",
            "company": "asdf",
            "phone": "123456",
        },
    ]


def test_fuzzy_duplicate_is_found_and_explained() -> None:
    matcher = Matcher(DEFAULT_CONFIG)
    prepared = matcher.prepare(_people())
    pairs = matcher.candidate_pairs(prepared)
    assert [0, 1] in pairs.tolist()
    scored = matcher.explain(prepared, prepared, 0, 1)
    assert scored.probability >= DEFAULT_CONFIG.review
    levels = {e.field: e.level for e in scored.evidence}
    assert levels["first_name"].startswith("similar")
    assert levels["last_name"] in ("sounds the same", "similar (Jaro-Winkler ≥ 0.92)")
    assert levels["email"] == "missing"
    assert next(e for e in scored.evidence if e.field == "email").weight == 0
    assert levels["city"] == "exact"


def test_different_people_score_low() -> None:
    matcher = Matcher(DEFAULT_CONFIG)
    prepared = matcher.prepare(_people())
    assert matcher.explain(prepared, prepared, 0, 2).probability < 0.01


def test_placeholder_records_never_block_or_match() -> None:
    matcher = Matcher(DEFAULT_CONFIG)
    prepared = matcher.prepare(_people())
    pairs = {tuple(p) for p in matcher.candidate_pairs(prepared).tolist()}
    assert not pairs & {(3, 4), (3, 5), (4, 5)}
    scored = matcher.explain(prepared, prepared, 3, 4)
    assert all(e.level == "missing" and e.weight == 0 for e in scored.evidence)
    assert scored.probability == pytest.approx(DEFAULT_CONFIG.prior)
    assert matcher.score_pairs(prepared, threshold=0.0)[["left_id", "right_id"]].values.tolist() == [[0, 1]]


def test_numeric_and_date_tolerance_levels() -> None:
    config = MatchConfig(
        fields=(
            FieldSpec("revenue", "numeric", thresholds=(100,)),
            FieldSpec("born", "date", thresholds=(30,)),
        ),
        blocking=(("group",),),
    )
    matcher = Matcher(config)
    prepared = matcher.prepare(
        [
            {"group": "a", "revenue": "1000", "born": "1980-03-04"},
            {"group": "a", "revenue": "1050", "born": "1980-04-03"},
            {"group": "a", "revenue": "5000", "born": "1980-03-20"},
        ]
    )
    levels = matcher.compare(prepared, prepared, np.array([[0, 1], [0, 2]]))
    assert levels.tolist() == [[1, 1], [2, 2]]  # within 100 / day-month swapped; different / within 30 days


def test_linking_two_files_pairs_only_across() -> None:
    matcher = Matcher(DEFAULT_CONFIG)
    left = matcher.prepare([{"email": "a@acme.io"}, {"email": "b@acme.io"}], ids=["L1", "L2"])
    right = matcher.prepare([{"email": "b@acme.io"}, {"email": "b@acme.io"}], ids=["R1", "R2"])
    scored = matcher.score_pairs(left, right, threshold=0.5)
    assert sorted(scored[["left_id", "right_id"]].values.tolist()) == [["L2", "R1"], ["L2", "R2"]]


def test_custom_fields_take_part_by_configuration() -> None:
    config = MatchConfig.from_dict(
        {"fields": [{"name": "custom.vat_id", "comparator": "code"}], "blocking": [["custom.vat_id"]]}
    )
    matcher = Matcher(config)
    prepared = matcher.prepare([{"custom": {"vat_id": "DE123456789"}}, {"custom": {"vat_id": "DE123456789"}}])
    assert matcher.candidate_pairs(prepared).tolist() == [[0, 1]]


def test_em_learns_weights_that_separate_matches() -> None:
    rng = random.Random(7)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(8))

    rows = []
    for i in range(300):
        person = {
            "first_name": word(),
            "last_name": word(),
            "city": f"city{i % 40}",
            "dob": f"19{i % 90 + 10}0101",
        }
        rows.append(person)
        if i % 3 == 0:
            rows.append({**person, "first_name": person["first_name"][:-1] + "z"})
    config = MatchConfig.from_dict(
        {
            "fields": [
                {"name": "first_name", "comparator": "string"},
                {"name": "last_name", "comparator": "string"},
                {"name": "city", "comparator": "exact"},
                {"name": "dob", "comparator": "date"},
            ],
            "blocking": [["last_name"], ["dob"]],
        }
    )
    trained = Matcher(config).train(Matcher(config).prepare(rows), random_pairs=20_000)
    prepared = trained.prepare(rows)
    found = trained.score_pairs(prepared, threshold=0.9)
    assert len(found) == 100
    assert all(rows[a]["last_name"] == rows[b]["last_name"] for a, b in found[["left_id", "right_id"]].values)


def test_config_round_trip_and_validation() -> None:
    assert MatchConfig.from_dict(DEFAULT_CONFIG.to_dict()) == DEFAULT_CONFIG
    with pytest.raises(ValueError):
        MatchConfig.from_dict({"fields": [{"name": "x", "comparator": "nope"}], "blocking": []})
    with pytest.raises(ValueError):
        MatchConfig.from_dict({"fields": [], "blocking": [], "review": 0.9, "auto_merge": 0.5})
