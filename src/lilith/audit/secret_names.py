"""Names that say their value is a secret: keys of structured values, command-line options, environment
variables. Structure says more than text: under ``password``, ``DB_PASS`` or ``--api-key`` any value is a
secret, whatever it looks like."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_A = re.ASCII

_SECRET_KEY_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "apikey",
    "authorization",
    "auth",
    "accesskey",
    "privatekey",
    "privkey",
    "clientsecret",
    "secretkey",
    "cookie",
    "cookies",
    "credential",
    "credentials",
    "sessionid",
    "jwt",
    "bearer",
)
_SECRET_KEY_PREFIXES = ("password", "passwd", "secret", "apikey", "privatekey", "clientsecret")
_SECRET_KEY_EXACT = frozenset({"pass", "pw", "pwd"})
# Word parts (snake_case, kebab-case, camelCase, UPPER_CASE) that make a name secret wherever they stand:
# db_pass, MYSQL_PWD, newPass, session_token. Options and environment variables also count KEY and CRED
# (--key, SSH_KEY, AWS_CREDS), which as keys of structured values are too often plain data ("key": "id").
_WORD_PART_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", _A)
_SECRET_PARTS = frozenset(
    {"pass", "passwd", "password", "passcode", "passphrase", "pwd", "pw", "secret", "secrets", "token"}
)
_SETTING_PARTS = _SECRET_PARTS | {"key", "keys", "cred", "creds", "credential", "credentials"}
# ...unless the name ends in a word that describes the secret rather than holding it: token_count,
# secret_name, key_file, pass_count.
_DESCRIPTOR_PARTS = frozenset(
    {
        "count", "counts", "type", "types", "limit", "limits", "usage", "length", "len", "size", "max", "min",
        "name", "names", "url", "uri", "endpoint", "path", "file", "id", "ids", "arn", "version", "ttl",
        "expiry", "expires", "enabled", "required",
    }
)  # fmt: skip
SETTING_NAME_RE = re.compile(r"-{0,2}[A-Za-z_][A-Za-z0-9_.-]{0,127}", _A)  # --api-key, DB_PASS, -Dx.password
_WORKING_DIRECTORIES = frozenset({"PWD", "OLDPWD"})  # the shell's variables: paths, not passwords
_PAIR_NAME_FIELDS = ("name", "key", "header")  # {"name": "Authorization", "value": "Bearer …"}
PLAIN, SECRET, SSN = 0, 1, 2  # what the key of a structured value says about its value


def _has_secret_part(name: str, parts: frozenset[str]) -> bool:
    words = [word.lower() for word in _WORD_PART_RE.findall(name)]
    return bool(words) and words[-1] not in _DESCRIPTOR_PARTS and not parts.isdisjoint(words)


def is_secret_key(key: str) -> bool:
    """A key of a structured value (``password``, ``apiKey``, ``db_pass``) whose value is a secret."""
    norm = key.lower().replace("-", "").replace("_", "").replace(".", "").replace(" ", "")
    return (
        norm.endswith(_SECRET_KEY_SUFFIXES)
        or norm.startswith(_SECRET_KEY_PREFIXES)
        or norm in _SECRET_KEY_EXACT
        or _has_secret_part(key, _SECRET_PARTS)
    )


def is_secret_setting(name: str) -> bool:
    """A command-line option (``--api-key``) or environment variable (``DB_PASS``) whose value is a secret."""
    name = name.lstrip("-")
    if name[:3].lower() in ("no-", "no_") or name in _WORKING_DIRECTORIES:  # --no-auth is a switch
        return False
    return is_secret_key(name) or _has_secret_part(name, _SETTING_PARTS)


def key_kind(key: str) -> int:
    """What a key says about its value: ``SECRET``, ``SSN`` (tagged only if it has an SSN's shape) or ``PLAIN``."""
    if is_secret_key(key):
        return SECRET
    words = [word.lower() for word in _WORD_PART_RE.findall(key)]
    if "ssn" in words or "socialsecurity" in "".join(words):
        return SSN
    return PLAIN


def names_a_secret(pair: Mapping[Any, Any]) -> bool:
    """A name/value pair whose name is a secret's: ``{"name": "Authorization", "value": "Bearer …"}``."""
    for field in _PAIR_NAME_FIELDS:
        name = pair.get(field)
        if type(name) is str and len(name) <= 128 and is_secret_key(name):
            return True
    return False
