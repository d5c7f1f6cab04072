"""Secrets out of everything linkcheck writes: reports, the terminal and logs.

A URL's user-info (`user:password@`) becomes `***@`, and the value of each query parameter whose
name looks secret (token, key, sig, password, session...: `DEFAULT_SECRET_PARAMS`, plus what
config.yaml's `redact` section says) becomes `***`. Everything else keeps its exact bytes. The
store keeps the real URL, since it is what is fetched: redaction happens where text leaves.

Redaction works on text with regular expressions, not on parsed URLs, so a malformed URL is
redacted as far as it can be and nothing ever raises.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

MASK = "***"

# Parameter names, case-insensitive, as shell-style patterns (`*_token`). A name is also tried
# with its camelCase split (`apiKey` -> `api_key`), its %-escapes decoded (`to%6Ben`) and each
# part of a bracketed name (`auth[token]`).
DEFAULT_SECRET_PARAMS: tuple[str, ...] = (
    "token", "access_token", "refresh_token", "id_token", "key", "api_key", "apikey", "sig",
    "signature", "password", "passwd", "pwd", "secret", "auth", "authorization", "session",
    "sessionid", "session_id", "sid", "jwt", "credential", "credentials", "x-amz-signature",
    "x-amz-credential", "x-amz-security-token", "x-goog-signature", "x-goog-credential",
    "jsessionid", "phpsessid", "aspsessionid*", "sessid", "hmac", "otp", "private_key",
    "*token", "*_key", "*-key", "*secret", "*password", "*passwd", "*_pwd", "*signature", "*_sig",
    "*-sig", "*credential", "*credentials", "*_session", "*-session", "*sessionid", "*_jwt",
    "*_auth", "*-auth",
)  # fmt: skip

# `//user:pass@`: the `//` follows a scheme's colon, a space, a quote or a bracket; the user-info
# runs to the last `@` before the host's end (as urllib splits it).
_TEXT_USERINFO = re.compile(r"""(?:(?<=:)|(?<![^\s"'<>(\[{=,;|]))//([^/?#\s"'<>]+)@""")
_URL_USERINFO = re.compile(r"^(\s*(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//)([^/?#]+)@")
# `?name=value`, `&name=`, `;name=` (matrix and `&amp;`), `#name=` (OAuth puts tokens in the
# fragment). The value is a look-ahead, so a parameter nested in another's value is still seen.
_TEXT_PARAM = re.compile(r"""([?&;#])([^=&;#?\s"'<>]+)=(?=([^&;#\s"'<>]*))""")
_URL_PARAM = re.compile(r"([?&;#])([^=&;#?]+)=(?=([^&;#]*))")
# where a value ends short of the pattern's end: a path parameter's at the path's end, and in
# text, before the punctuation that ends a sentence
_MATRIX_END = re.compile(r"[/?]")
_PROSE_END = re.compile(r"[.,:!?)\]}]+$")
_PLAIN = frozenset({int, float, bool, type(None)})  # values with no text in them
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_BRACKETS = re.compile(r"[\[\]]+")


class Redactor:
    """Redacts with one list of secret parameter-name patterns."""

    def __init__(self, params: Iterable[str]) -> None:
        self.params = tuple(dict.fromkeys(p.strip().lower() for p in params if p.strip()))
        union = "|".join(fnmatch.translate(p) for p in self.params) or r"(?!)"
        names = re.compile(union, re.IGNORECASE)
        self.secret_name = lru_cache(maxsize=4096)(lambda name: _is_secret(names, name))

    def url(self, url: str) -> str:
        """One URL (absolute, relative or malformed), its secrets masked."""
        if "@" in url:
            url = _URL_USERINFO.sub(r"\1" + MASK + "@", url, count=1)
        return self._params(_URL_PARAM, url, prose=False) if "=" in url else url

    def text(self, text: str) -> str:
        """Every URL and query string in free text, their secrets masked."""
        if "@" in text:
            text = _TEXT_USERINFO.sub("//" + MASK + "@", text)
        return self._params(_TEXT_PARAM, text, prose=True) if "=" in text else text

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string in it (not the keys) redacted as text. What holds
        nothing to mask comes back as the very same object."""
        kind = type(value)  # exact types and inline tests: this runs on every item of a report
        if kind is str:
            return self.text(value) if "@" in value or "=" in value else value
        if kind is dict:
            changed = {
                k: new
                for k, v in value.items()
                if ((t := type(v)) is str and ("@" in v or "=" in v))
                or (t is not str and t not in _PLAIN)
                if (new := self.value(v)) is not v
            }
            return {**value, **changed} if changed else value
        if kind is list or kind is tuple:
            shown = [self.value(v) for v in value]
            return shown if any(a is not b for a, b in zip(shown, value, strict=True)) else value
        if isinstance(value, str):
            return self.text(str(value))
        if isinstance(value, Mapping):
            return self.value(dict(value))
        if isinstance(value, list | tuple):
            return self.value(list(value))
        return value

    def dumps(self, value: Any, dumps: Callable[[Any], str]) -> str:
        """`dumps(value)` with every string in it redacted. JSON escapes neither `@` nor `=`, so
        most items are serialised once and never walked (see may_hide), and those walked that
        hold no secret are not serialised again."""
        text = dumps(value)
        if not may_hide(text):
            return text
        shown = self.value(value)
        return text if shown is value else dumps(shown)

    def _params(self, pattern: re.Pattern[str], text: str, *, prose: bool) -> str:
        pieces: list[str] = []
        done = 0  # text[:done] is in pieces
        for match in pattern.finditer(text):
            separator, name, value = match.groups()
            start = match.start(3)
            if start < done or not value or not self.secret_name(name):
                continue  # inside a value already masked, empty, or not a secret
            if separator == ";":
                value = _MATRIX_END.split(value, maxsplit=1)[0]
            if prose:
                value = _PROSE_END.sub("", value)
            if not value:
                continue
            pieces += (text[done:start], MASK)
            done = start + len(value)
        return "".join(pieces) + text[done:] if pieces else text


def may_hide(text: str) -> bool:
    """False when text surely holds nothing to mask: no user-info (`@`), no parameter (`=`)."""
    return "@" in text or "=" in text


def _is_secret(names: re.Pattern[str], name: str) -> bool:
    for _ in range(3):  # %-escapes, possibly doubly escaped
        if "%" not in name:
            break
        name = unquote(name)
    candidates = {name, _CAMEL.sub("_", name)}
    if "[" in name:
        candidates.update(part for part in _BRACKETS.split(name) if part)
    return any(names.fullmatch(c.strip().lower()) for c in candidates)


def redactor_from(section: Any) -> Redactor:
    """The redactor of a `redact` config section: a RedactConfig, or the mapping a run recorded
    (anything else: the defaults). `params` are the patterns in force, DEFAULT_SECRET_PARAMS
    when absent; `extra_params` are added to them."""
    if isinstance(section, Mapping):
        params, extra = section.get("params"), section.get("extra_params")
    else:
        params, extra = getattr(section, "params", None), getattr(section, "extra_params", None)
    base = params if isinstance(params, list | tuple) else DEFAULT_SECRET_PARAMS
    added = extra if isinstance(extra, list | tuple) else ()
    return Redactor(str(p) for p in (*base, *added))


DEFAULT = Redactor(DEFAULT_SECRET_PARAMS)
_active = DEFAULT


def use(redactor: Redactor) -> None:
    """Make `redactor` the process's own: for the logs, the terminal, and with each run's
    recorded settings, the reports."""
    global _active
    _active = redactor


def active() -> Redactor:
    return _active


def for_run(run_config: Mapping[str, Any] | None) -> Redactor:
    """For a run's reports: what the run was configured to redact, and what this process is."""
    recorded = redactor_from((run_config or {}).get("redact"))
    if set(_active.params) <= set(recorded.params):
        return recorded
    return Redactor((*recorded.params, *_active.params))


def redact_url(url: str) -> str:
    """A URL with its user-info and secret query parameters masked, by the active redactor."""
    return _active.url(url)


def redact_text(text: str) -> str:
    """Free text with every URL's user-info and secret parameters masked."""
    return _active.text(text)


_ORIGIN = re.compile(r"^\s*([A-Za-z][A-Za-z0-9+.\-]*://)?(?:[^/?#]*@)?([^/?#]*)(.*)$", re.DOTALL)


def redact_origin(url: str) -> str:
    """A URL whose path is itself the secret (an incoming webhook such as
    hooks.slack.com/services/T…/B…/secret): its scheme and host only, the rest masked."""
    match = _ORIGIN.match(url)
    assert match is not None  # every part is optional: any text matches
    scheme, host, rest = match.groups()
    return f"{scheme or ''}{host}" + (f"/{MASK}" if rest.strip("/") else "")
