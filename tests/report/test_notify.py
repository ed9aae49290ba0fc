"""The e-mail notification (issue 5, docs/design.md §8): multipart/alternative with inline CSS, under
100 KB however large the account, the report attached only when small, and delivery to a real
SMTP server on loopback (aiosmtpd): plain with login, STARTTLS, implicit TLS, and failures that
come back as an error instead of an exception. The password never reaches the .eml.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
from pathlib import Path

import pytest

from test_report import big_report, world_report
from usermap.config import Config
from usermap.notify import MAX_MESSAGE_BYTES, build_message, notify, send, write_eml
from usermap.errors import NotifyError

pytestmark = pytest.mark.issue(5)  # the issue that asked for these tests

USER, PASSWORD = "reports@acme.test", "pw-SECRETSMTP-91f3a7"

# A self-signed certificate for 127.0.0.1/localhost, valid until 2126, made for these tests
# only (openssl req -x509 ... -addext subjectAltName=IP:127.0.0.1,DNS:localhost). It protects
# nothing: it lets the loopback server speak TLS and the client verify it.
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIDTjCCAjagAwIBAgIUbnlHl71gcQYk4vjaMVQF+VBO8PwwDQYJKoZIhvcNAQEL
BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyNDE1MjkzMVoYDzIxMjYx
MDMxMTUyOTMxWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwggEiMA0GCSqGSIb3DQEB
AQUAA4IBDwAwggEKAoIBAQD1injJ5Eef4YvWVtH2v8DQd2KEOBPZOQUiXTsnM9WU
kHwVu6sKLUQiA16MI9hm/gXzOzYJuqcxhNXLkb6ZZgRDVV/FuMUJrOJrp8IckxhO
85l+6pq8mBlD1DdF7lodDIIkz25kSjtbkuCCKk3wwRBWPCA5fcnwn9dKKKkEAQq8
b0DDq0Im39RJlnbqAcmorZh0whlmfe2Mr0wIiZs51nxKuJZOthLyPbdOzyoEH+qh
0+WVIPIPx61PSkgiUk0aqBuNiIktm6TVHMUa1jp3DyAvuJm3+ZX68FqcoN9Zr5dI
kocyKbYcG7YLH0uNu+I0+/ZG266rLxH5CYhiyOso+XhfAgMBAAGjgZUwgZIwHQYD
VR0OBBYEFLv9v5TUR8g9UU2GMsTN42M8SbGRMB8GA1UdIwQYMBaAFLv9v5TUR8g9
UU2GMsTN42M8SbGRMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2FsaG9zdDAPBgNVHRMB
Af8EBTADAQH/MA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggrBgEFBQcDATAN
BgkqhkiG9w0BAQsFAAOCAQEAvsO8Jlm3ylQmuXsLlSkma9H0IkcjC6WN/fbT7CxT
NSwQ0BR8ssJKSkK28olgHG4ns8+kS3p2NIHVf7H2k5Fdh/yUHrU3QMW8THBv7xA9
Az7H/NMkSWnqlVZeHAycXvod47kOh/5WRzMQjWEhaMMdby3ClieF0AqRDpNtyZyy
6Vq/et69fPEVlxYlNIkvuOiMzQ7/PjdvDuBmGQEJKQ+bBgPiLuSvMdo+56K76bco
Avch/6ovtBoEuofbOaFyY6J9/vca7Ns+QcVWxUZCYSnYgPwnGSzubW5u2Y7QH7O8
1rGpItKZIZs05qyR803GvSWHq2uZBFPn/JrjhypuL1LOlQ==
-----END CERTIFICATE-----
"""
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQD1injJ5Eef4YvW
VtH2v8DQd2KEOBPZOQUiXTsnM9WUkHwVu6sKLUQiA16MI9hm/gXzOzYJuqcxhNXL
kb6ZZgRDVV/FuMUJrOJrp8IckxhO85l+6pq8mBlD1DdF7lodDIIkz25kSjtbkuCC
Kk3wwRBWPCA5fcnwn9dKKKkEAQq8b0DDq0Im39RJlnbqAcmorZh0whlmfe2Mr0wI
iZs51nxKuJZOthLyPbdOzyoEH+qh0+WVIPIPx61PSkgiUk0aqBuNiIktm6TVHMUa
1jp3DyAvuJm3+ZX68FqcoN9Zr5dIkocyKbYcG7YLH0uNu+I0+/ZG266rLxH5CYhi
yOso+XhfAgMBAAECggEAYq2NsYV+i3B3ZGJr60BQ2va/rudigq/5sj/JoA2izhvq
4kkTifl7Ijg8bRGSzIFWHtQy+WH8A1ihGzitYrSvDehnnuyMs0C5lg5LYnRzFner
vmfGW/i8XpgQxpftuzLlsqlycferNzgl5enefNz6Fc4AHVrCJ2P1f6YrlqJckDFU
TFX75xiGsmMoDsfFSAovaOcXxeES4EcWWk6vm+RWG0I1I3xUvfICm0g/1Y5UYvbb
UpQq2pVPkbAsdM83rJQIDu4MboceJsE4tehTCwSZwx/uG71IJXB/hFUbUcr+Zs3m
7GwpdVRw9zbT1JAmKep5fJYWCAkjnJU8iKYVBPd9cQKBgQD9UeC6CU8LMYA7pUE1
2xskJhWq6c4fC+FZVKCW7xwjSp2GD5JPrK1MdA63TdMohNScGw8P1+O31kNtxwg8
bSr8XceEweIM4YgpIPn/gLn1iyWUMoT5vlYVY9hsbCMp+jmRslDeWjSK7+9fymAP
WUeVgtV2Jl9T43xKC4sRNz/AmwKBgQD4I4ZL4ZIg/bVv/UZIQznGuHp3G9mTMwHx
XgkSzsMdbAgCQMwWh2EYl9AbBaGX28PqbDbh+k3iPL9Bam+ZKkFC2U4YusVPHNFm
7w+tfL3SXs8ACuURx+t/yQTK9gpkxiaX+Oz7vrw+Lgay6III60n4sf0PCJTEJuwn
/ILThNvZjQKBgQCTtlXLRThRN5klrpQa2lu2NXr3AYTOt7e8xksqF92Zep3mGVhg
mzkmVppqKrhRbTsol+Ktg17myMrizWcxDRs+s1RvRjsQ9cXW7cK5SQ+mbXAJPXgq
xOEfcew2NMxAYweEvKzJK2JuDcDQY4qmCJJkTTk5vuBhY0oLRzXdYREMtwKBgFWz
l0+f8eN5HPA37s1IgqzyzEFVGhlv9YzSqJmZVeRUipOUo6hoS4296T9b+4rCeXD+
vRnhZILt7jR+uVqSMIYRHZsG7ty7HEvL54NI4RrGagIewS0Z+mlhGUmsHrzdfzjf
3aG5J7TmGqQyD69a7Gp7tuY5VYBF3SyWVu0NJw2FAoGAeJMxDOyM1KqU6fuFsnHa
2LjP5Q3dlP55MAZboC3zv2QTRtgVKSlUD2lFF14bwT08JM6a6ugJZMI9/vTtfcy/
1+7MBpYbeQXU9g0O2Ml2GUkgQkRg5tkVc1m8gHrBR4y0CVCYbZ3ntWBiRIQ8WAp/
2K/O/Oketn2hAsfUeXs5kRQ=
-----END PRIVATE KEY-----
"""


def config(**smtp) -> Config:
    raw = {"smtp": {"sender": "usermap@acme.test", "timeout": 10,
                    "recipients": ["ops@acme.test", "cto@acme.test"]}}
    report = smtp.pop("report", None)
    raw["smtp"].update(smtp)
    if report:
        raw["report"] = report
    return Config.from_dict(raw)


def parse(data: bytes):
    return email.message_from_bytes(data, policy=email.policy.default)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the message -------------------------------------------------------------------------------
def test_multipart_alternative_with_inline_css_and_the_subject():
    r = world_report()
    msg = build_message(r, config())
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == r.subject() == (
        "usermap: sync applied (1 linked, 3 removed), 3 of 7 links correct, 4 errors, "
        "4 need a person, 3 new issues")   # 2 owners: for information
    assert msg["To"] == "ops@acme.test, cto@acme.test" and msg["From"] == "usermap@acme.test"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "3 new issues, 2 resolved" in text
    assert "<style" not in html and 'style="' in html            # CSS inlined by css-inline
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script" not in html.lower()
    assert len(msg.as_bytes()) < MAX_MESSAGE_BYTES


def test_a_small_report_travels_as_an_attachment(tmp_path):
    from tiny import U, O, L, run
    from usermap.report.build import build_report
    from usermap.report.compose import write_report
    a, p = run([U(1, "a@x.com")], [O(10, "a@x.com")], [L(1, 10, "a@x.com", "a@x.com")])
    r = build_report(a, plan=p, run_id="r1", generated_at="2026-03-01T12:00:00Z")
    path = write_report(r, tmp_path / "report.html")
    msg = build_message(r, config(), report_path=path)
    assert msg.get_content_type() == "multipart/mixed"
    parts = list(msg.iter_parts())
    assert parts[0].get_content_type() == "multipart/alternative"
    att = next(msg.iter_attachments())
    assert att.get_filename() == "report.html"
    assert att.get_payload(decode=True) == path.read_bytes()
    assert "Attached: report.html, the full report" in msg.get_body(("plain",)).get_content()
    assert len(msg.as_bytes()) < MAX_MESSAGE_BYTES
    # attach_max_bytes is honoured: then a compact copy travels instead, and no server path
    msg = build_message(r, config(report={"attach_max_bytes": 1000}), report_path=path)
    assert next(msg.iter_attachments()).get_filename() == "report-compact.html"
    assert str(path.resolve()) not in msg.as_string()


def test_100k_links_stay_under_100kb_with_a_link(tmp_path):
    r = big_report()
    path = tmp_path / "report.html"
    path.write_text(r.to_html(), encoding="utf-8")
    assert path.stat().st_size > 1_000_000
    cfg = config(report={"url": "https://reports.acme.test/usermap/{run_id}/report.html"})
    msg = build_message(r, cfg, report_path=path)
    size = len(msg.as_bytes())
    assert size < MAX_MESSAGE_BYTES, size
    # too big to attach: the worklist travels as CSV (as much of it as fits), and the link
    att = next(msg.iter_attachments())
    assert att.get_filename() in ("report-compact.html", "needs_person.csv")
    text = msg.get_body(("plain",)).get_content()
    assert f"https://reports.acme.test/usermap/{r.run_id}/report.html" in text
    assert f"Attached: {att.get_filename()}" in text
    html = msg.get_body(("html",)).get_content()
    assert f'href="https://reports.acme.test/usermap/{r.run_id}/report.html"' in html
    # without a URL no server path either: the run's folder is named in words
    msg = build_message(r, config(), report_path=path)
    assert str(path.resolve()) not in msg.as_string()
    assert "kept in the run's folder" in msg.get_body(("plain",)).get_content()


def test_hostile_sizes_stay_under_100kb():
    from tiny import U, O, L, run
    from usermap.report.build import build_report
    huge = "X" * 200_000
    users = [U(i, f"u{i}@x.com", first=huge, last=huge) for i in range(40)]
    owners = [O(100 + i, f"o{i}@x.com") for i in range(40)]
    links = [L(i, 100 + i) for i in range(40)]
    a, p = run(users, owners, links)
    r = build_report(a, plan=p, status=huge, run_id="r" * 500, notes=[huge] * 50,
                     history=[{"run_id": "p", "at": "", "summary": {}, "issues": []}])
    assert len(build_message(r, config()).as_bytes()) < MAX_MESSAGE_BYTES


def test_the_eml_never_holds_the_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    out = notify(world_report(), config(), tmp_path)                 # no host: file only
    assert out == {"eml": str(tmp_path / "notification.eml"), "sent": False, "error": None}
    data = Path(out["eml"]).read_bytes()
    assert PASSWORD.encode() not in data and USER.encode() not in data
    assert parse(data)["Subject"] == world_report().subject()


def test_write_eml_round_trips(tmp_path):
    msg = build_message(world_report(), config())
    p = write_eml(msg, tmp_path / "a" / "n.eml")
    back = parse(p.read_bytes())
    assert back.get_body(("plain",)).get_content() == msg.get_body(("plain",)).get_content()


# --- delivery ----------------------------------------------------------------------------------
class Sink:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "data": envelope.original_content or envelope.content,
                              "login": getattr(session, "login_data", None),
                              "tls": session.ssl is not None})
        return "250 OK"


def _auth(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    # handled=False: aiosmtpd then answers 535 itself (its default, True, answers nothing)
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@pytest.fixture
def cert_files(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text(TEST_CERT)
    key.write_text(TEST_KEY)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))     # the client trusts the test certificate
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    started = []

    def start(**kw):
        sink = Sink()
        port = free_port()
        c = Controller(sink, hostname="127.0.0.1", port=port, **kw)
        c.start()
        started.append(c)
        return sink, port
    yield start
    for c in started:
        c.stop()


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)


def _check_received(sink, r):
    assert len(sink.received) == 1
    got = sink.received[0]
    assert got["from"] == "usermap@acme.test"
    assert got["to"] == ["ops@acme.test", "cto@acme.test"]
    assert PASSWORD.encode() not in got["data"]
    m = parse(got["data"])
    assert m.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]
    assert m["Subject"] == r.subject()
    assert len(got["data"]) < MAX_MESSAGE_BYTES
    return got


def test_plain_smtp_with_login(tmp_path, smtp_server, creds):
    sink, port = smtp_server(authenticator=_auth, auth_require_tls=False)
    r = world_report()
    out = notify(r, config(host="127.0.0.1", port=port, starttls=False), tmp_path)
    assert out["sent"] is True and out["error"] is None
    got = _check_received(sink, r)
    assert got["login"] == USER.encode() and got["tls"] is False
    assert PASSWORD.encode() not in Path(out["eml"]).read_bytes()


def test_starttls_with_login(tmp_path, smtp_server, creds, cert_files):
    sink, port = smtp_server(authenticator=_auth, auth_require_tls=True, require_starttls=True,
                             tls_context=cert_files)
    r = world_report()
    out = notify(r, config(host="127.0.0.1", port=port, starttls=True), tmp_path)
    assert out == {"eml": str(tmp_path / "notification.eml"), "sent": True, "error": None}
    got = _check_received(sink, r)
    assert got["tls"] is True and got["login"] == USER.encode()


def test_implicit_tls(tmp_path, smtp_server, creds, cert_files):
    # the whole connection is TLS (aiosmtpd cannot tell, so it is told AUTH is fine here)
    sink, port = smtp_server(authenticator=_auth, auth_require_tls=False,
                             ssl_context=cert_files)
    r = world_report()
    out = notify(r, config(host="127.0.0.1", port=port, ssl=True, starttls=False), tmp_path)
    assert out["sent"] is True, out
    _check_received(sink, r)


def test_an_untrusted_certificate_is_refused(tmp_path, smtp_server, creds, cert_files,
                                             monkeypatch):
    sink, port = smtp_server(authenticator=_auth, tls_context=cert_files, require_starttls=True)
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "none"))
    out = notify(world_report(), config(host="127.0.0.1", port=port), tmp_path)
    assert out["sent"] is False and "SSL" in out["error"] and sink.received == []


def test_no_starttls_offered_is_an_error_not_a_downgrade(tmp_path, smtp_server, creds):
    sink, port = smtp_server(authenticator=_auth, auth_require_tls=False)
    out = notify(world_report(), config(host="127.0.0.1", port=port, starttls=True), tmp_path)
    assert out["sent"] is False and "STARTTLS" in out["error"]
    assert sink.received == [] and Path(out["eml"]).is_file()


def test_wrong_password_is_an_error_without_the_password(tmp_path, smtp_server, monkeypatch):
    sink, port = smtp_server(authenticator=_auth, auth_require_tls=False)
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-SECRETSMTP-0000")
    out = notify(world_report(), config(host="127.0.0.1", port=port, starttls=False), tmp_path)
    assert out["sent"] is False and "SMTPAuthenticationError" in out["error"]
    assert "wrong-SECRETSMTP-0000" not in out["error"] and sink.received == []


def test_server_down_gives_an_error_dict_not_an_exception(tmp_path, creds, caplog):
    port = free_port()      # nothing listens here
    cfg = config(host="127.0.0.1", port=port, starttls=False, timeout=5)
    out = notify(world_report(), cfg, tmp_path)
    assert out["sent"] is False and "ConnectionRefusedError" in out["error"]
    assert f"127.0.0.1:{port}" in out["error"]
    assert Path(out["eml"]).is_file()                    # the run keeps its notification
    assert "notification not sent" in caplog.text
    with pytest.raises(NotifyError):                     # send() itself raises a usermap error
        send(build_message(world_report(), cfg), cfg)


def test_no_recipients_is_an_error(tmp_path, creds):
    cfg = Config.from_dict({"smtp": {"host": "127.0.0.1", "recipients": []}})
    out = notify(world_report(), cfg, tmp_path)
    assert out["sent"] is False and "recipients" in out["error"]
