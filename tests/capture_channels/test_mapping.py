"""Property tests of the channel mappers: any input maps without crashing, and mapped values survive."""

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from leadflow.capture.mapping import (
    GOOGLE_COLUMNS,
    dot_get,
    form_fields,
    form_payload,
    generic_payload,
    google_ads_lead,
    hmac_sha256_hex,
    meta_lead_payload,
    meta_leadgen_notices,
    signature_valid,
    split_full_name,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
words = st.text(alphabet=st.characters(categories=["L"]), min_size=1, max_size=12)


@given(json_values)
def test_google_mapper_never_crashes_on_any_json(body: Any) -> None:
    try:
        lead = google_ads_lead(body)
    except ValueError:
        return
    assert lead.payload["external_id"] == lead.lead_id
    json.dumps(lead.payload)


@given(
    st.text(min_size=1, max_size=30).filter(str.strip),
    st.dictionaries(st.sampled_from(sorted(GOOGLE_COLUMNS)), words, max_size=6),
    st.booleans(),
)
def test_google_standard_columns_land_in_their_lead_fields(
    lead_id: str, columns: dict[str, str], is_test: bool
) -> None:
    body = {
        "lead_id": lead_id,
        "google_key": "k",
        "is_test": is_test,
        "user_column_data": [{"column_id": cid, "string_value": value} for cid, value in columns.items()],
    }
    lead = google_ads_lead(body)
    seen: dict[str, str] = {}
    for column_id, value in columns.items():
        seen.setdefault(GOOGLE_COLUMNS[column_id], value)
    for field, value in seen.items():
        assert lead.payload[field] == value
    assert lead.is_test is is_test and lead.payload.get("is_test", False) is is_test


@given(st.lists(words, min_size=1, max_size=5))
def test_full_name_split_keeps_every_word(names: list[str]) -> None:
    first, last = split_full_name(" ".join(names))
    assert f"{first} {last}".split() == names


@given(json_values, json_values)
def test_meta_mappers_never_crash(body: Any, lead: Any) -> None:
    notices = meta_leadgen_notices(body)
    assert all(notice.get("leadgen_id") for notice in notices)
    try:
        payload = meta_lead_payload(lead, {"leadgen_id": "1"})
    except ValueError:
        return
    json.dumps(payload)


@given(st.dictionaries(words, json_values, max_size=5), st.lists(words, min_size=1, max_size=4))
def test_dot_get_finds_what_was_put_at_a_path(base: dict[str, Any], path: list[str]) -> None:
    document: dict[str, Any] = {}
    node = document
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = "here"
    assert dot_get(document, ".".join(path)) == "here"
    assert dot_get(base, ".".join(path) + ".missing.more") is None or isinstance(base, dict)


@given(
    json_values,
    st.dictionaries(st.sampled_from(["email", "first_name", "custom.size", "utm_source"]), words, min_size=1),
)
def test_generic_mapping_never_crashes_and_only_maps_scalars(body: Any, mapping: dict[str, str]) -> None:
    payload = generic_payload(body, mapping)
    for key, value in payload.items():
        if key not in ("custom", "attribution"):
            assert not isinstance(value, dict | list)


@given(st.binary(max_size=200), st.text(min_size=1, max_size=20))
def test_hmac_signature_round_trip(body: bytes, secret: str) -> None:
    signature = hmac_sha256_hex(secret, body)
    assert signature_valid(secret, body, f"sha256={signature}")
    assert signature_valid(secret, body, signature)
    assert not signature_valid(secret + "x", body, f"sha256={signature}")


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=30), max_size=8), json_values)
def test_form_payload_never_crashes_and_reports_missing_required(
    data: dict[str, str], raw_fields: Any
) -> None:
    fields = form_fields(raw_fields)
    payload, errors = form_payload(fields, data, known={}, consent_text="", method="form")
    for form_field in fields:
        if form_field.required and not (data.get(form_field.name) or "").strip():
            assert form_field.name in errors
    json.dumps(payload)
