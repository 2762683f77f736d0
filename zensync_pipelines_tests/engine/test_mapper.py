"""The prepared mapper must answer exactly as the general per-field path: same payloads, same errors, same
fingerprints, so mapping tables written before it keep skipping unchanged rows."""

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from zensync_pipelines.engine.mapper import FieldError, Mapper, _general, mapper_for
from zensync_pipelines.engine.payload import fingerprint
from zensync_pipelines.engine.spec import ExternalObject, Field, InvalidValue

OBJ = ExternalObject("customer", [
    Field("name", "name", required=True, max_length=10),
    Field("email", "email", type="email", max_length=30),
    Field("city", "address.city"),
    Field("line1", "address.line1", max_length=5),
    Field("currency", "metadata.currency", choices=("usd", "eur"), transform=str.lower),
])


def reference_build(obj, row, references=None):
    """The general path for every field, as build_payload did before fields were prepared."""
    payload, errors = {}, []
    for f in obj.fields:
        try:
            value = _general(f)(row, references)
        except InvalidValue as bad:
            errors.append(FieldError(f.column, f.target, bad.reason, bad.code))
            continue
        except Exception as bad:
            errors.append(FieldError(f.column, f.target, f"transform failed: {bad}", "transform_error"))
            continue
        *parents, leaf = f.target.split(".")
        place = payload
        for key in parents:
            place = place.setdefault(key, {})
        place[leaf] = value
    return payload, errors


TEXTS = st.one_of(st.none(), st.text(max_size=14), st.sampled_from(["", "   ", "a@b.co", "a b@c.d", "x@y"]),
                  st.integers(), st.floats(allow_nan=False), st.booleans(), st.just(dt.date(2025, 1, 2)))


@given(name=TEXTS, email=TEXTS, city=TEXTS, line1=TEXTS, currency=st.one_of(TEXTS, st.sampled_from(["USD", "eur"])))
def test_the_prepared_mapper_answers_as_the_general_path(name, email, city, line1, currency):
    row = {"name": name, "email": email, "city": city, "line1": line1, "currency": currency}
    assert Mapper(OBJ).build(row) == reference_build(OBJ, row)


def test_bad_text_still_names_row_field_and_reason():
    _, errors = Mapper(OBJ).build({"name": "   ", "email": "nope", "line1": "123456", "currency": 3})
    assert [(e.column, e.code) for e in errors] == [("name", "required"), ("email", "invalid_email"),
                                                    ("line1", "too_long"), ("currency", "transform_error")]
    assert errors[2].reason == "6 characters, longer than the maximum 5"


def test_one_mapper_per_object_and_a_new_one_for_an_equal_but_new_object():
    same = ExternalObject("customer", list(OBJ.fields))
    assert mapper_for(OBJ) is mapper_for(OBJ)
    assert mapper_for(same) is not mapper_for(OBJ)


def test_fingerprints_are_those_stored_by_earlier_versions():
    # Computed with json.dumps(sort_keys=True, separators=(",", ":"), default=str) + sha256, as mapping tables
    # in users' databases hold them: changing the canonical text would make every row look changed.
    payload = {"name": "Ada", "address": {"line1": "1 Main St", "city": None}, "metadata": {"currency": "usd"},
               "n": 2.5, "ok": True, "d": dt.date(2025, 1, 2), "u": "é"}
    assert fingerprint(payload) == "2ec9b0638817fed2c78251189703a355a3805baf61d9443d19455c790266cba0"
