"""The pure matching engine: placeholders, blocking, comparison levels, probabilities, EM training."""

import math
import random
import string
from dataclasses import replace

import numpy as np
import pytest

from leadflow.hygiene.matching import (
    DEFAULT_CONFIG,
    SCALAR_PAIRS,
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


@pytest.mark.parametrize("value", ["11", "55", "123", "210", "2222", "4567"])
def test_short_numbers_are_real_values(value: str) -> None:
    # house numbers and postcodes: repeated digits and runs only mark filler in longer numbers
    assert not is_placeholder(value)
    assert is_placeholder("00") and is_placeholder("12345") and is_placeholder("11111")


def test_swapped_fields_get_their_own_level() -> None:
    config = MatchConfig.from_dict(
        {
            "fields": [
                {"name": "first_name", "comparator": "name", "swap_with": "last_name"},
                {"name": "last_name", "comparator": "name", "swap_with": "first_name"},
                {"name": "street", "comparator": "string", "thresholds": [0.9], "swap_with": "line2"},
                {"name": "line2", "comparator": "string", "thresholds": [0.9], "swap_with": "street"},
            ],
            "blocking": [["city"]],
        }
    )
    assert MatchConfig.from_dict(config.to_dict()) == config
    spec = config.fields[0]
    assert spec.level_labels[-2:] == ("swapped with last_name", "different")
    matcher = Matcher(config)
    prepared = matcher.prepare(
        [
            {"first_name": "Anna", "last_name": "Kowalski", "street": "12 Hill Road", "line2": "Flat 3"},
            {"first_name": "Kowalski", "last_name": "Anna", "street": "Flat 3", "line2": "12 Hil Road"},
            {"first_name": "Kowalski", "last_name": "Maria", "street": "Flat 3"},  # one-sided: not a swap
        ]
    )
    levels = matcher.compare(prepared, prepared, np.array([[0, 1], [1, 0], [0, 2]]))
    swapped = [len(s.level_labels) - 2 for s in config.fields]
    different = [len(s.level_labels) - 1 for s in config.fields]
    assert levels[0].tolist() == levels[1].tolist() == swapped
    assert levels[2].tolist() == [different[0], different[1], different[2], -1]
    with pytest.raises(ValueError, match="swap_with"):
        MatchConfig.from_dict({"fields": [{"name": "a", "swap_with": "b"}], "blocking": [["a"]]})


def _linked_people(seed: int = 3) -> list[dict[str, str]]:
    rng = random.Random(seed)

    def word() -> str:
        return "".join(rng.choice(string.ascii_lowercase) for _ in range(7))

    rows = []
    for i in range(400):
        person = {"name": word(), "city": f"city{i % 25}", "id": f"{rng.randrange(10**7):07d}"}
        rows.append(person)
        if i % 4 == 0:
            rows.append({**person, "name": person["name"][:-2] + "zz"})
    return rows


def test_trained_prior_is_over_all_pairs_and_u_excludes_the_matches() -> None:
    rows = _linked_people()  # 500 records, 100 duplicate pairs
    config = MatchConfig.from_dict(
        {
            "fields": [
                {"name": "name", "comparator": "string"},
                {"name": "city", "comparator": "exact"},
                {"name": "id", "comparator": "exact"},
            ],
            "blocking": [["city"]],
        }
    )
    prepared = Matcher(config).prepare(rows)
    trained = Matcher(config).train(prepared, random_pairs=124_750, seed=1)
    all_pairs = len(rows) * (len(rows) - 1) / 2
    # the prior is the share of matches among all pairs, not among the ~5,000 blocked ones
    assert trained.config.prior == pytest.approx(100 / all_pairs, rel=0.05)
    # about 100 of the random pairs are duplicates, which agree on id as matches do, not by chance: taken as
    # u, they would cap the weight of an exact id at log2(1 / prior) (u ≈ prior · m)
    ids = trained.config.fields[2]
    assert math.log2(ids.m[0] / ids.u[0]) > math.log2(1 / trained.config.prior) + 2
    found = trained.score_pairs(prepared, threshold=0.9)
    assert len(found) == 100


def test_legal_basename_is_cleancos_basename_faster():
    from cleanco import basename
    from faker import Faker

    from leadflow.hygiene.matching import legal_basename

    fake = Faker(["en_US", "de_DE", "fr_FR", "es_ES", "nl_NL"])
    Faker.seed(7)
    suffixes = [
        "Inc",
        "Ltd",
        "GmbH",
        "LLC",
        "S.A.",
        "AG",
        "Co.",
        "KG",
        "Pty Ltd",
        "S.r.l.",
        "N.V.",
        "& Co. KG",
    ]
    names = [fake.company() for _ in range(2000)]
    names += [f"{name} {suffixes[i % len(suffixes)]} {suffixes[i % 5]}" for i, name in enumerate(names[:500])]
    names += [
        "",
        "  ",
        "Inc",
        "Ltd.",
        "Daddy & Sons, Ltd.",
        "ACME GmbH & Co. KG",
        "X LLC LLC",
        "Société Générale S.A.",
    ]
    assert [legal_basename(name) for name in names] == [basename(name) for name in names]
    assert legal_basename("Acme Widgets GmbH & Co. KG") == "Acme Widgets"


def test_one_records_keys_are_the_keys_blocking_gives_the_set() -> None:
    """The in-flow check computes a record's keys without arrays; they must be the keys of the scan."""
    config = replace(DEFAULT_CONFIG, blocking=(*DEFAULT_CONFIG.blocking, ("city:first3", "custom.ref")))
    matcher = Matcher(config)
    records = [
        {"first_name": "Anna", "last_name": "Müller", "company": "Acme GmbH", "email": "a@acme.io"},
        {"first_name": " ANNA ", "last_name": "muller", "company": "n/a", "phone": "+4930123456"},
        {"first_name": "test", "last_name": "O'Brien", "company": "The Acme Co", "city": "Berlin"},
        {
            "first_name": None,
            "last_name": float("nan"),
            "company": "Inc",
            "city": "Köln",
            "custom": {"ref": 7},
        },
        {"email": "test@test.com", "phone": "0000000", "city": "Paris", "custom": {"ref": "x-1"}},
        {},
    ]
    columns = matcher.blocking_keys(matcher.prepare(records))
    for r, record in enumerate(records):
        expected = [f"{i}:{column[r]}" for i, column in enumerate(columns) if column[r] is not None]
        assert matcher.rule_keys(record) == expected
    assert matcher.rule_keys(records[0])[:1] == ["0:a@acme.io"]


def test_the_per_pair_path_gives_the_levels_of_the_array_path() -> None:
    """compare() takes a few pairs one by one and many as arrays: on every comparator, swaps, missing and
    placeholder values, both must give the same levels."""
    config = MatchConfig(
        fields=(
            FieldSpec("email", "email"),
            FieldSpec("phone", "code", thresholds=(1, 2)),
            FieldSpec("first_name", "name", swap_with="last_name"),
            FieldSpec("last_name", "name"),
            FieldSpec("company", "company"),
            FieldSpec("city", "string", thresholds=(0.9,), swap_with="region"),
            FieldSpec("region", "exact"),
            FieldSpec("nick", "phonetic"),
            FieldSpec("seats", "numeric", thresholds=(1, 10)),
            FieldSpec("born", "date", thresholds=(3, 30)),
        ),
        blocking=(("email",),),
    )
    rng = random.Random(7)
    pools = {
        "email": ["ann@acme.io", "anne@acme.io", "ann@apex.io", "test@test.com", None],
        "phone": ["+4930123456", "+4930123457", "+4930123465", "000000", None],
        "first_name": ["Anna", "Anne", "Hanna", "Smith", "n/a", None],
        "last_name": ["Smith", "Smyth", "Anna", "Schmidt", None],
        "company": ["Acme GmbH", "ACME Inc.", "Acme Labs", "Apex", "Inc", None],
        "city": ["Berlin", "Berlim", "Bern", "Hesse", None],
        "region": ["Hesse", "Berlin", "BE", None],
        "nick": ["Jon", "John", "Joan", "Jack", None],
        "seats": ["10", "10.0", "11", "25", "1,000", "many", None],
        "born": ["1980-05-04", "1980-04-05", "1980-05-05", "19800504", "1980-06-01", "05/04/1980", None],
    }
    records = [{name: rng.choice(values) for name, values in pools.items()} for _ in range(60)]
    matcher = Matcher(config)
    left, right = matcher.prepare(records[:30]), matcher.prepare(records[30:])
    pairs = np.array([(i, j) for i in range(30) for j in range(30)], dtype=np.int64)
    by_arrays = matcher.compare(left, right, pairs)
    assert len(pairs) > SCALAR_PAIRS and len({tuple(row) for row in by_arrays.tolist()}) > 50
    for start in range(0, len(pairs), SCALAR_PAIRS):
        chunk = pairs[start : start + SCALAR_PAIRS]
        assert (
            matcher.compare(left, right, chunk).tolist() == by_arrays[start : start + SCALAR_PAIRS].tolist()
        )
    assert set(by_arrays.ravel().tolist()) >= {-1, 0, 1, 2}
