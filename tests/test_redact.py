"""Secrets never leave: URL user-info and secret-looking query parameters are masked in every
report, the logs and the terminal, while the real URL is still what is fetched."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import structlog
from aiohttp import web
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image
from quickrun import crawl, quick_config
from servers import serve
from yarl import URL

from crawler import cli, redact
from crawler.cli.run import print_summary
from crawler.config import ConfigError, RedactConfig
from crawler.config_loader import load_config
from crawler.crawl import RunResult
from crawler.logs import configure_logging
from crawler.redact import DEFAULT, DEFAULT_SECRET_PARAMS, Redactor, for_run, redactor_from
from crawler.report.schema import report_schema


@pytest.fixture(autouse=True)
def _default_redactor() -> Iterator[None]:
    """Each test starts and ends with the built-in redactor and structlog's own set-up."""
    redact.use(DEFAULT)
    yield
    redact.use(DEFAULT)
    structlog.reset_defaults()


# -- one URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:secret@h/p?token=abc123&id=5", "http://***@h/p?token=***&id=5"),
        ("https://user:@h/", "https://***@h/"),  # empty password
        ("https://user@h/", "https://***@h/"),  # a user name alone
        ("http://@h/", "http://@h/"),  # empty user-info: nothing to hide
        ("http://u:p@ss@h/p", "http://***@h/p"),  # an unescaped @: up to the host, as urllib
        ("http://h/a@b/c@d?x=1", "http://h/a@b/c@d?x=1"),  # @ in the path is no user-info
        ("http://h/?to%6Ben=abc&id=5", "http://h/?to%6Ben=***&id=5"),  # %-escaped name
        ("http://h/?to%256Ben=abc", "http://h/?to%256Ben=***"),  # escaped twice
        ("http://h/?TOKEN=a&Token=b&token=c&id=1", "http://h/?TOKEN=***&Token=***&token=***&id=1"),
        ("http://h/p", "http://h/p"),  # no query
        ("http://h/p?", "http://h/p?"),
        ("http://h/?token&token=", "http://h/?token&token="),  # no value to hide
        ("http://u:p@[::1]:8080/?sig=x&b=%20y#top", "http://***@[::1]:8080/?sig=***&b=%20y#top"),
        ("http://[::1]/?id=1", "http://[::1]/?id=1"),
        ("http://h/?b=2&a=%2F1&sig=s#frag", "http://h/?b=2&a=%2F1&sig=***#frag"),
        ("http://h/cb#access_token=t&state=s", "http://h/cb#access_token=***&state=s"),  # OAuth
        ("http://h/x;jsessionid=ABC?q=1", "http://h/x;jsessionid=***?q=1"),  # path parameter
        ("http://h/?a=1;password=p;b=2", "http://h/?a=1;password=***;b=2"),
        ("http://h/?next=/in?token=x&id=2", "http://h/?next=/in?token=***&id=2"),  # nested
        ("http://h/?auth[token]=1&a[b]=2", "http://h/?auth[token]=***&a[b]=2"),
        ("http://h/?token=a%26b&id=1", "http://h/?token=***&id=1"),  # an escaped & is the value's
        ("http://h/?apiKey=1&pageToken=2&monkey=3", "http://h/?apiKey=***&pageToken=***&monkey=3"),
        (
            "http://h/?client_secret=1&my-key=2&hockey=3",
            "http://h/?client_secret=***&my-key=***&hockey=3",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=c&X-Amz-Signature=s&X-Amz-Expires=60",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Expires=60",
        ),
        ("/landing?access_token=t&id=1", "/landing?access_token=***&id=1"),  # a relative Location
        ("//u:p@h/x", "//***@h/x"),  # scheme-relative
        ("http://[bad/?token=t", "http://[bad/?token=***"),  # malformed, redacted all the same
        ("http://u:p@h:port?/x", "http://***@h:port?/x"),
        ("", ""),
        ("token=abc", "token=abc"),  # no URL, no query: a name needs its ? & ; or #
    ],
)
def test_redact_url_masks_user_info_and_secret_parameters_only(url: str, expected: str) -> None:
    assert DEFAULT.url(url) == expected
    assert redact.redact_url(url) == expected


SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._~%", min_size=1, max_size=8)
SECRET_VALUE = st.builds("SECRET{}".format, SAFE)
PLAIN_NAMES = st.sampled_from(["id", "page", "q", "lang", "utm_source", "w", "monkey", "ref"])
SECRET_NAMES = st.sampled_from(["token", "Signature", "api_key", "X-Amz-Credential", "sid"])


@st.composite
def urls_with_secrets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A URL, and the `name=value` pairs that must come out as they went in."""
    host = draw(st.sampled_from(["example.com", "127.0.0.2:8080", "[::1]", "[2001:db8::1]:81"]))
    user = draw(st.one_of(st.just(""), st.builds("SECRETu{}:{}@".format, SAFE, SAFE)))
    params: list[str] = []
    kept: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            params.append(f"{draw(SECRET_NAMES)}={draw(SECRET_VALUE)}")
        else:
            kept.append(f"{draw(PLAIN_NAMES)}={draw(SAFE)}")
            params.append(kept[-1])
    query = ("?" + "&".join(params)) if params else ""
    fragment = draw(st.sampled_from(["", "#top", "#a=1&b=2"]))
    scheme = draw(st.sampled_from(["http://", "https://", "HTTPS://", "//"]))
    return f"{scheme}{user}{host}/{draw(SAFE)}{query}{fragment}", kept


@given(urls_with_secrets())
def test_no_secret_survives_and_the_rest_keeps_its_bytes(case: tuple[str, list[str]]) -> None:
    url, kept = case
    shown = DEFAULT.url(url)
    in_text = DEFAULT.text(f"see {url}, now")
    assert "SECRET" not in shown and "SECRET" not in in_text
    for pair in kept:
        assert pair in shown and pair in in_text
    if "SECRET" not in url:
        assert shown == url


ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=200)  # surrogates too
URLISH = st.text(alphabet="htps:/@?&;#=%[]:.uk tokeniy\"'<>\\", max_size=60)


@given(st.one_of(ANY_TEXT, URLISH))
@example("http://\udcff:p@h/?token=\udcfe")  # lone surrogates, as a badly encoded card holds
@example("//" * 2000 + "@")  # long runs do not backtrack for ever
def test_redaction_never_raises_and_is_idempotent(text: str) -> None:
    for once in (DEFAULT.url(text), DEFAULT.text(text)):
        assert isinstance(once, str)
    assert DEFAULT.text(DEFAULT.text(text)) == DEFAULT.text(text)
    assert DEFAULT.url(DEFAULT.url(text)) == DEFAULT.url(text)


# -- free text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "redirects to http://u:p@x/?sig=abc, then 'https://a:b@c/d?token=t'.",
            "redirects to http://***@x/?sig=***, then 'https://***@c/d?token=***'.",
        ),
        ("Location: /next?token=abc (302)", "Location: /next?token=*** (302)"),
        ('{"url": "http://h/?key=k&id=5"}', '{"url": "http://h/?key=***&id=5"}'),
        ("<a href='/x?a=1&amp;session=s'>", "<a href='/x?a=1&amp;session=***'>"),
        ("write to x@y.com about a=b", "write to x@y.com about a=b"),  # no URL: left alone
        ("moved to http://h/a//b@c?id=5", "moved to http://h/a//b@c?id=5"),  # path, not user
        ("lines\nhttp://u:p@h/?pwd=1\nmore", "lines\nhttp://***@h/?pwd=***\nmore"),
    ],
)
def test_redact_text_masks_every_url_in_free_text(text: str, expected: str) -> None:
    assert DEFAULT.text(text) == expected
    assert redact.redact_text(text) == expected


def test_redact_value_masks_every_string_and_keeps_keys_and_numbers() -> None:
    value = {"url": "http://u:p@h/?token=t", "n": 5, "hops": [{"location": "/?sid=1"}], "x": None}
    assert DEFAULT.value(value) == {
        "url": "http://***@h/?token=***",
        "n": 5,
        "hops": [{"location": "/?sid=***"}],
        "x": None,
    }


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | URLISH | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)


def _every_string_redacted(value: Any) -> Any:
    if isinstance(value, str):
        return DEFAULT.text(value)
    if isinstance(value, dict):
        return {k: _every_string_redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_every_string_redacted(v) for v in value]
    return value


@given(JSONISH)
def test_redact_value_is_the_text_redactor_on_every_string(value: Any) -> None:
    assert DEFAULT.value(value) == _every_string_redacted(value)


def test_dumps_walks_only_what_may_hold_a_secret() -> None:
    calls: list[Any] = []

    def dumps(value: Any) -> str:
        calls.append(value)
        return json.dumps(value)

    assert DEFAULT.dumps({"url": "http://h/p"}, dumps) == '{"url": "http://h/p"}'
    assert DEFAULT.dumps({"url": "http://h/?id=5"}, dumps) == '{"url": "http://h/?id=5"}'
    assert len(calls) == 2  # nothing to mask: each serialised once
    assert DEFAULT.dumps({"url": "http://h/?key=k"}, dumps) == '{"url": "http://h/?key=***"}'
    clean = {"u": "http://h/?id=5", "hops": [{"l": "/?x=1"}], "n": 1}
    assert DEFAULT.value(clean) is clean  # nothing masked: the same object back


# -- configuration -----------------------------------------------------------------------------


def test_extra_params_add_to_the_defaults_and_params_replace_them() -> None:
    url = "http://h/?code=c&token=t&foo=f&id=1"
    assert DEFAULT.url(url) == "http://h/?code=c&token=***&foo=f&id=1"
    added = redactor_from({"extra_params": ["code"]})
    assert added.url(url) == "http://h/?code=***&token=***&foo=f&id=1"
    replaced = redactor_from({"params": ["FOO", "*_ticket"]})
    assert (
        replaced.url(url + "&my_ticket=m") == "http://h/?code=c&token=t&foo=***&id=1&my_ticket=***"
    )
    assert redactor_from(RedactConfig(extra_params=["code"])).params == added.params
    assert redactor_from(None).params == DEFAULT.params == DEFAULT_SECRET_PARAMS


def test_redact_section_in_config_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("redact:\n  extra_params: [code, '*_ticket']\n")
    config = load_config(path)
    assert config.redact.extra_params == ["code", "*_ticket"]
    assert config.redact.params == list(DEFAULT_SECRET_PARAMS)
    assert config.to_jsonable()["redact"]["extra_params"] == ["code", "*_ticket"]
    path.write_text("redact:\n  params: token\n")
    with pytest.raises(ConfigError, match=r"redact\.params must be a list of names"):
        load_config(path)


def test_a_runs_reports_mask_what_the_run_and_this_process_were_told() -> None:
    recorded = {"redact": {"params": ["token"], "extra_params": ["code"]}}
    url = "http://h/?token=t&code=c&ticket=x&sig=s"
    redact.use(redactor_from(recorded["redact"]))  # this process told the same as the run
    assert for_run(recorded).url(url) == "http://h/?token=***&code=***&ticket=x&sig=s"
    redact.use(Redactor(["ticket"]))  # a report rebuilt by a process told more
    assert for_run(recorded).url(url) == "http://h/?token=***&code=***&ticket=***&sig=s"
    redact.use(DEFAULT)  # a run from before the setting existed: the defaults
    assert for_run({}).url(url) == "http://h/?token=***&code=c&ticket=x&sig=***"


# -- logs and terminal ----------------------------------------------------------------------------


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no")


def test_logs_carry_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", verbose=True, redaction=RedactConfig(extra_params=["code"]))
    log = structlog.get_logger("test")
    secret_url = "http://alice:pw123@h/p?token=tok456&code=cod789&id=5"
    log.info(
        f"fetching {secret_url}",
        url=secret_url,
        parsed=URL(secret_url),  # an object, shown as its text
        hops=[{"location": "/next?sid=sid321"}],
        error=ValueError(f"bad answer from {secret_url}"),
    )
    log.info("odd value", value=_Unprintable())  # never takes the log line down
    try:
        raise RuntimeError(f"crashed on {secret_url}")
    except RuntimeError:
        log.exception("check_failed", url=secret_url)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 3 and "Traceback" in lines[2]["exception"]
    assert lines[1]["value"] == "<unprintable _Unprintable>"
    for secret in ("alice", "pw123", "tok456", "cod789", "sid321"):
        assert secret not in err
    assert lines[0]["url"] == "http://***@h/p?token=***&code=***&id=5"
    assert "id=5" in lines[2]["exception"]


def test_terminal_summary_is_redacted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "x;password=pw999"
    print_summary(RunResult(1, "finished", {"ok": 1}, folder / "report.json"))
    out = capsys.readouterr().out
    assert "pw999" not in out and "x;password=***/report.json" in out


# -- a whole run on a local server ------------------------------------------------------------

USER, PASSWORD = "alicelogin", "s3kr1tpw"
SECRETS = (
    USER, PASSWORD, "abc123tok", "imgsig42", "sess1on77", "loctok99", "reltok77", "brokenkey9",
    "brokenkey8", "oauthcode1", base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
)  # fmt: skip


def _png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(out, "PNG")
    return out.getvalue()


def _card(folder: Path, name: str, title: str, url: str, extra: str = "") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(
        f'---\ntitle: "{title}"\npublishedDateTime: 2020-03-04T05:06:07Z\n'
        f'webUrl: "{url}"\n{extra}---\n'
    )


async def test_a_run_fetches_real_urls_and_writes_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[str, str | None]] = []  # (path and query, Authorization) of each request

    def page(title: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            seen.append((request.path_qs, request.headers.get("Authorization")))
            return web.Response(text=f"<title>{title}</title>", content_type="text/html")

        return handler

    async def image(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("Authorization")))
        return web.Response(body=_png(4, 3), content_type="image/png")

    async def moved(request: web.Request) -> web.Response:
        seen.append((request.path_qs, request.headers.get("Authorization")))
        secret_site = f"http://{USER}:{PASSWORD}@{request.host}"
        raise web.HTTPMovedPermanently(f"{secret_site}/page2?token=loctok99&id=8")

    async def relative(request: web.Request) -> web.Response:
        raise web.HTTPFound("/page3?access_token=reltok77&id=11")

    async def wayback(request: web.Request) -> web.Response:
        asked = request.query["url"]
        if "brokenkey8" in asked:  # fails: linkcheck logs the lookup with the URL
            return web.Response(status=500)
        return web.json_response(
            {"archived_snapshots": {"closest": {
                "available": True, "status": "200", "timestamp": "20200304050607",
                "url": f"http://archive.test/web/20200304050607/{asked}",
            }}}
        )  # fmt: skip

    routes = {
        "/page": page("Quiet page news"),
        "/page2": page("Moved page news"),
        "/page3": page("Relative page news"),
        "/img.png": image,
        "/moved": moved,
        "/relative": relative,
        "/gone": lambda r: web.Response(status=404, text="not here"),
    }
    configure_logging("json", verbose=True)
    async with (
        serve(routes, "127.0.0.2") as site,
        serve({"/wayback/available": wayback}, "127.0.0.3") as archive,
    ):
        base = site.url("/").replace("http://", f"http://{USER}:{PASSWORD}@").rstrip("/")
        cards = tmp_path / "cards"
        image_field = f'images:\n  - url: "{base}/img.png?sig=imgsig42&id=6"\n    width: 40\n'
        _card(cards, "page", "Quiet page news", f"{base}/page?token=abc123tok&id=5",
              image_field + "    height: 30\n")  # fmt: skip
        _card(cards, "moved", "Moved page news", f"{base}/moved?session=sess1on77&id=7")
        _card(cards, "relative", "Relative page news", f"{base}/relative?code=oauthcode1&id=10")
        _card(cards, "gone", "Gone page news", f"{base}/gone?api_key=brokenkey9&id=9")
        _card(cards, "gone2", "Gone again news", f"{base}/gone?api_key=brokenkey8&id=12")
        _card(cards, "plain", "Plain gone news", f"{site.url('/gone')}?id=13")
        config = quick_config(
            tmp_path,
            archive={"enabled": True, "endpoint": archive.url("").rstrip("/")},
            redact={"extra_params": ["code"]},
        )
        _, report = await crawl(config)
    out = tmp_path / "out"
    argv = ["--state", str(tmp_path / "state.sqlite"), "--out", str(out), "--log-format", "json"]
    assert cli.main(["report", "--format", "csv,junit", *argv]) == 0
    assert cli.main(["history", f"{base}/moved?session=sess1on77&id=7", *argv[:2]]) == 0
    captured = capsys.readouterr()

    # the real URLs were fetched: every secret reached the server
    auth = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert ("/page?token=abc123tok&id=5", auth) in seen
    assert ("/img.png?sig=imgsig42&id=6", auth) in seen
    assert ("/moved?session=sess1on77&id=7", auth) in seen
    assert ("/page2?token=loctok99&id=8", auth) in seen
    assert ("/page3?access_token=reltok77&id=11", auth) in seen  # a relative Location
    # what linkcheck wrote holds none of them, and still the rest of each URL
    jsonschema.validate(report, report_schema())
    written = {name: (out / name).read_text() for name in
               ("report.json", "report.html", "problems.csv", "report.junit.xml")}  # fmt: skip
    written["logs"] = captured.err
    written["history"] = captured.out
    for name, text in written.items():
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{name} holds {leaked}"
    for name in ("report.json", "report.html", "problems.csv", "report.junit.xml"):
        assert "id=9" in written[name] and "api_key=***" in written[name], name
    # the archive is a third party: it is never told a URL that holds a secret
    assert archive.paths() == ["/wayback/available"]  # only the public "plain" page was looked up
    assert "page2?token=***&id=8" in captured.out  # history: the final URL, redacted

    by_path = {c["path"]: c for c in report["cards"]}
    assert by_path["page.md"]["problems"][0]["kind"] == "image_dimension_mismatch"
    gone = by_path["gone.md"]["problems"][0]
    assert gone["kind"] == "not_found"
    assert gone["url"] == f"{site.url('/gone')}?api_key=***&id=9".replace("//", "//***@", 1)
    assert "archive_url" not in gone
    plain = by_path["plain.md"]["problems"][0]
    assert plain["archive_url"].endswith("/gone?id=13")
    moved_problem = by_path["moved.md"]["problems"][0]
    assert moved_problem["kind"] == "moved_permanently"
    assert moved_problem["final_url"].endswith(
        "@127.0.0.2:" + str(site.port) + "/page2?token=***&id=8"
    )
    urls = {u["url"]: u for u in report["urls"]}
    hops = urls[f"http://***@127.0.0.2:{site.port}/relative?code=***&id=10"]["redirects"]
    assert hops[0]["location"].endswith(
        "@127.0.0.2:" + str(site.port) + "/page3?access_token=***&id=11"
    )
