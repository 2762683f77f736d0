"""Tenant secrets: references to the environment and to secrets files, Fernet-encrypted values, key rotation, and
errors that name the field and the reference but never a value."""

import json

import pytest
from cryptography.fernet import Fernet

from zensync_pipelines.store import secrets
from zensync_pipelines.store.secrets import SecretError

VALUE = "sk_live_Very-Secret-Value-42"


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()


def test_environment_references_resolve_when_asked_for():
    stored = secrets.reference("env:TENANT_STRIPE_KEY", "stripe_key")
    assert stored == "env:TENANT_STRIPE_KEY" and secrets.describe(stored) == stored
    assert secrets.resolve(stored, environ={"TENANT_STRIPE_KEY": VALUE}) == VALUE
    with pytest.raises(SecretError, match="stripe_key: environment variable TENANT_STRIPE_KEY is not set"):
        secrets.resolve(stored, "stripe_key", environ={})


def test_secrets_files_hold_json_objects_or_key_value_lines(tmp_path):
    as_json, as_lines = tmp_path / "secrets.json", tmp_path / "secrets.env"
    as_json.write_text(json.dumps({"t1_stripe": VALUE, "count": 3}))
    as_lines.write_text(f"# tenant secrets\n\nT1_STRIPE = \"{VALUE}\"\nT2_STRIPE=plain=with=equals\n")
    assert secrets.resolve(secrets.reference(f"file:{as_json}#t1_stripe")) == VALUE
    assert secrets.resolve(f"file:{as_lines}#T1_STRIPE") == VALUE  # the quotes are stripped
    assert secrets.resolve(f"file:{as_lines}#T2_STRIPE") == "plain=with=equals"
    with pytest.raises(SecretError, match="no string entry 'count'"):
        secrets.resolve(f"file:{as_json}#count")
    with pytest.raises(SecretError, match="has no entry 'T3_STRIPE'"):
        secrets.resolve(f"file:{as_lines}#T3_STRIPE")
    with pytest.raises(SecretError, match="cannot read secrets file"):
        secrets.resolve(f"file:{tmp_path / 'missing.json'}#x")
    broken = tmp_path / "broken.json"
    broken.write_text('{"t1_stripe": "' + VALUE)  # a JSON error would quote the file: it must not
    with pytest.raises(SecretError, match="is not valid JSON") as error:
        secrets.resolve(f"file:{broken}#t1_stripe")
    assert VALUE not in str(error.value) and error.value.__cause__ is None and error.value.__suppress_context__


@pytest.mark.parametrize("given", ["sk_live_abc", "env:", "env:1BAD", "file:relative/path#x", "file:/abs/path",
                                   VALUE])
def test_anything_but_a_reference_is_refused_without_echoing_it(given):
    with pytest.raises(SecretError) as error:
        secrets.reference(given, "stripe_key")
    assert str(error.value).startswith("stripe_key: ")
    if not given.startswith(("env:", "file:")):
        assert given not in str(error.value)


def test_encrypted_values_need_the_key_and_never_show(key):
    stored = secrets.encrypt(VALUE, {secrets.KEY_VARIABLE: key})
    assert stored.startswith("enc:") and VALUE not in stored
    assert secrets.describe(stored) == "encrypted (Fernet, ZENSYNC_SECRETS_KEY)"
    assert secrets.resolve(stored, environ={secrets.KEY_VARIABLE: key}) == VALUE
    with pytest.raises(SecretError, match="ZENSYNC_SECRETS_KEY is not set"):
        secrets.resolve(stored, environ={})
    with pytest.raises(SecretError, match="cannot decrypt it"):
        secrets.resolve(stored, environ={secrets.KEY_VARIABLE: Fernet.generate_key().decode()})
    with pytest.raises(SecretError, match="ZENSYNC_SECRETS_KEY is not a Fernet key"):
        secrets.resolve(stored, environ={secrets.KEY_VARIABLE: "not-a-key"})


def test_rotation_reencrypts_under_the_new_key_and_the_old_key_decrypts_meanwhile(key):
    old_stored = secrets.encrypt(VALUE, {secrets.KEY_VARIABLE: key})
    new_key = Fernet.generate_key().decode()
    during = {secrets.KEY_VARIABLE: new_key, secrets.OLD_KEY_VARIABLE: key}
    assert secrets.resolve(old_stored, environ=during) == VALUE  # runs keep working between deploy and rekey
    rotated = secrets.rotate(old_stored, secrets.keys(during))
    assert rotated != old_stored and secrets.resolve(rotated, environ={secrets.KEY_VARIABLE: new_key}) == VALUE
    with pytest.raises(SecretError, match="cannot decrypt"):
        secrets.resolve(rotated, environ={secrets.KEY_VARIABLE: key})
    assert secrets.resolve(secrets.rotate(rotated, secrets.keys(during)),  # a second rekey is harmless
                           environ={secrets.KEY_VARIABLE: new_key}) == VALUE
    stranger = secrets.encrypt(VALUE, {secrets.KEY_VARIABLE: Fernet.generate_key().decode()})
    with pytest.raises(SecretError, match="neither the new nor the old key"):
        secrets.rotate(stranger, secrets.keys(during))
