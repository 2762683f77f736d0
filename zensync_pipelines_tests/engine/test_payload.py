import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from zensync_pipelines.engine.payload import build_payload, fingerprint
from zensync_pipelines.engine.spec import ExternalObject, Field

OBJ = ExternalObject("customer", [
    Field("name", "name", required=True, max_length=10),
    Field("email", "email", type="email"),
    Field("city", "address.city"),
    Field("country", "address.country", max_length=2, transform=str.upper),
    Field("seats", "metadata.seats", type="integer"),
    Field("since", "metadata.since", type="date"),
    Field("currency", "metadata.currency", choices=("usd", "eur")),
])


def test_a_row_maps_to_a_nested_payload_with_normalised_values():
    row = {"name": "Ada", "email": "ada@example.com", "city": "London", "country": "gb", "seats": "3",
           "since": dt.datetime(2026, 1, 2, 3, 4), "currency": "usd"}
    payload, errors = build_payload(OBJ, row)
    assert errors == []
    assert payload == {"name": "Ada", "email": "ada@example.com", "address": {"city": "London", "country": "GB"},
                       "metadata": {"seats": 3, "since": "2026-01-02", "currency": "usd"}}


def test_every_bad_field_of_a_row_is_reported_with_column_and_reason():
    row = {"name": "", "email": "nope", "country": "gbr", "seats": "2.5", "since": "someday", "currency": "xyz"}
    _, errors = build_payload(OBJ, row)
    by_column = {e.column: e for e in errors}
    assert set(by_column) == {"name", "email", "country", "seats", "since", "currency"}
    assert by_column["name"].code == "required"
    assert by_column["email"].code == "invalid_email"
    assert by_column["country"].code == "too_long" and "maximum 2" in by_column["country"].reason
    assert "not an integer" in by_column["seats"].reason
    assert by_column["currency"].code == "invalid_choice"


def test_empty_optional_values_are_sent_as_null_so_they_can_be_cleared():
    payload, errors = build_payload(OBJ, {"name": "Ada", "email": "  ", "city": None})
    assert errors == []
    assert payload["email"] is None and payload["address"]["city"] is None


def test_a_failing_transform_becomes_a_field_error_not_an_exception():
    obj = ExternalObject("x", [Field("n", "n", transform=lambda v: 1 / 0)])
    _, errors = build_payload(obj, {"n": "a"})
    assert errors[0].code == "transform_error" and "division by zero" in errors[0].reason


def test_references_replace_the_internal_id_with_the_external_one():
    from zensync_pipelines.engine.spec import Reference

    obj = ExternalObject("invoice", [Field("customer_id", "customer", required=True,
                                           references=Reference("customers", "customer"))])
    payload, errors = build_payload(obj, {"customer_id": 7}, {"customer": "cus_7"})
    assert errors == [] and payload == {"customer": "cus_7"}


@given(st.dictionaries(st.text(min_size=1, max_size=5), st.one_of(st.integers(), st.text(max_size=5)),
                       max_size=8))
def test_fingerprints_ignore_key_order_and_see_every_value(payload):
    reordered = dict(reversed(list(payload.items())))
    assert fingerprint(payload) == fingerprint(reordered)
    assert fingerprint(payload | {"__extra__": 1}) != fingerprint(payload)
