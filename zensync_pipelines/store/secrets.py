"""Tenant secrets, never in clear text in the database: each is stored as one of three forms.

- `env:NAME`: the value of environment variable NAME, read when the secret is resolved;
- `file:/abs/path#ENTRY`: entry ENTRY of a secrets file, read when resolved. A file whose first non-blank
  character is `{` is a JSON object (ENTRY is a key, the value a string); any other file holds `KEY=VALUE` lines
  (blank lines and `#` comments skipped, one pair of surrounding quotes stripped), as a dotenv or a Kubernetes
  secret mounted as a file does;
- `enc:<Fernet token>`: the value encrypted with the key in ZENSYNC_SECRETS_KEY (cryptography's Fernet:
  AES-128-CBC + HMAC-SHA256). During a rotation ZENSYNC_SECRETS_KEY_OLD decrypts too, until `zensync tenants
  rekey` has re-encrypted every value under the new key.

A reference keeps the secret where the platform's secret manager already puts it; encryption needs only one key
in the environment. Every error here names the tenant field and the reference, never a value, and is raised
`from None` so that no library's exception (a JSON error holds the whole file) is chained to it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping, Optional

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_VARIABLE = "ZENSYNC_SECRETS_KEY"
OLD_KEY_VARIABLE = "ZENSYNC_SECRETS_KEY_OLD"
ENV, FILE, ENCRYPTED = "env:", "file:", "enc:"
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class SecretError(ValueError):
    """A secret that cannot be stored or resolved; the message never holds a secret value."""


def reference(text: str, what: str = "secret") -> str:
    """The stored form of a reference given by an operator (`env:NAME` or `file:/path#ENTRY`), checked."""
    if text.startswith(ENV):
        if not _VARIABLE.fullmatch(text[len(ENV):]):
            raise SecretError(f"{what}: {text!r} is not env:NAME with NAME an environment variable name")
        return text
    if text.startswith(FILE):
        path, _, entry = text[len(FILE):].partition("#")
        if not (Path(path).is_absolute() and entry):
            raise SecretError(f"{what}: {text!r} is not file:/absolute/path#ENTRY")
        return text
    # Whatever else it is, it may be the secret itself: never echo it.
    raise SecretError(f"{what}: give a reference, env:NAME or file:/absolute/path#ENTRY (add --encrypt to store "
                      f"its value encrypted); a secret on the command line would stay in the shell's history")


def describe(stored: Optional[str]) -> Optional[str]:
    """What `zensync tenants show` prints: the reference, or only that the value is encrypted."""
    if stored is None:
        return None
    return "encrypted (Fernet, ZENSYNC_SECRETS_KEY)" if stored.startswith(ENCRYPTED) else stored


def keys(environ: Optional[Mapping[str, str]] = None, old_variable: str = OLD_KEY_VARIABLE) -> MultiFernet:
    """ZENSYNC_SECRETS_KEY (encrypts and decrypts) and, when set, the old key (decrypts only)."""
    environ = os.environ if environ is None else environ
    if not environ.get(KEY_VARIABLE):
        raise SecretError(f"{KEY_VARIABLE} is not set: encrypted tenant secrets need it (docs/tenants.md)")
    return MultiFernet([_fernet(environ, KEY_VARIABLE)] +
                       ([_fernet(environ, old_variable)] if environ.get(old_variable) else []))


def _fernet(environ: Mapping[str, str], variable: str) -> Fernet:
    try:
        return Fernet(environ[variable].strip())
    except (ValueError, TypeError):
        raise SecretError(f"{variable} is not a Fernet key (32 url-safe base64-encoded bytes; make one with "
                          f"`zensync tenants new-key`)") from None


def encrypt(value: str, environ: Optional[Mapping[str, str]] = None) -> str:
    return ENCRYPTED + keys(environ).encrypt(value.encode()).decode()


def resolve(stored: str, what: str = "secret", environ: Optional[Mapping[str, str]] = None) -> str:
    """The secret's value, read now from the environment, its file, or decrypted."""
    environ = os.environ if environ is None else environ
    if stored.startswith(ENV):
        name = stored[len(ENV):]
        if name not in environ:
            raise SecretError(f"{what}: environment variable {name} is not set")
        return environ[name]
    if stored.startswith(FILE):
        return _from_file(stored, what)
    if stored.startswith(ENCRYPTED):
        try:
            fernet = keys(environ)
        except SecretError as error:
            raise SecretError(f"{what}: {error}") from None
        try:
            return fernet.decrypt(stored[len(ENCRYPTED):].encode()).decode()
        except InvalidToken:
            raise SecretError(f"{what}: cannot decrypt it with {KEY_VARIABLE} (or {OLD_KEY_VARIABLE}): a rotated "
                              f"key not yet applied with `zensync tenants rekey`?") from None
    raise SecretError(f"{what}: the stored value is not a secret reference (env:, file: or enc:)")


def rotate(stored: str, fernet: MultiFernet, what: str = "secret") -> str:
    """An encrypted secret re-encrypted under the first key (a value already under it is re-encrypted too)."""
    try:
        return ENCRYPTED + fernet.rotate(stored[len(ENCRYPTED):].encode()).decode()
    except InvalidToken:
        raise SecretError(f"{what}: neither the new nor the old key decrypts it; nothing was re-encrypted") \
            from None


def _from_file(stored: str, what: str) -> str:
    path, _, entry = stored[len(FILE):].partition("#")
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise SecretError(f"{what}: cannot read secrets file {path} ({error.strerror or type(error).__name__})") \
            from None
    if text.lstrip().startswith("{"):
        try:
            entries = json.loads(text)
        except ValueError:
            raise SecretError(f"{what}: secrets file {path} is not valid JSON") from None
        value = entries.get(entry) if isinstance(entries, dict) else None
        if not isinstance(value, str):
            raise SecretError(f"{what}: secrets file {path} has no string entry {entry!r}")
        return value
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#") and key.strip() == entry:
            value = value.strip()
            return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"" else value
    raise SecretError(f"{what}: secrets file {path} has no entry {entry!r} (KEY=VALUE lines, or a JSON object)")
