"""Issue 10, "Nothing leaks, nothing runs": no piece of a secret in any message, file, report or
e-mail (servers that echo the token or the SMTP AUTH line included); config values that hold a
secret, and mail addresses with CR/LF, refused with exit 2; tokens with a trailing newline
stripped; every id shell-quoted in suggested commands and URL-encoded in profile links; the
audit's CSVs neutralise formulas while the mappings export round-trips exactly; messages quote
bounded pieces of what sources and files hold.

"Fragment" below means any 8 consecutive characters of a secret (or of its base64 forms).
"""

from __future__ import annotations

import base64
import http.server
import json
import shlex
import socketserver
import threading
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pandas as pd
import pytest

from test_cli import A, usermap, write_links, write_snapshot
from tiny import L, O, U

HS_TOKEN = "pat-na1-7f3e9c2a-41d8-4b6e-9a0f-5c1d2e3f4a5b"
AL_TOKEN = "alw-Qm9vYmFyYmF6cXV4LXRva2VuLTIwMjY"
SMTP_USER, SMTP_PASSWORD = "reports@acme.test", "pw-SECRETSMTP-91f3a7-zz"
SECRETS = {"HUBSPOT_ACCESS_TOKEN": HS_TOKEN, "ALOWARE_API_TOKEN": AL_TOKEN,
           "SMTP_USER": SMTP_USER, "SMTP_PASSWORD": SMTP_PASSWORD}


def fragments(secret: str, n: int = 8) -> set[str]:
    return {secret[i:i + n] for i in range(len(secret) - n + 1)}


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


ALL_FRAGMENTS = set().union(
    fragments(HS_TOKEN), fragments(AL_TOKEN), fragments(SMTP_PASSWORD),
    fragments(b64(SMTP_PASSWORD)), fragments(b64(f"\0{SMTP_USER}\0{SMTP_PASSWORD}")))


def assert_no_fragment(text, where=""):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = sorted(f for f in ALL_FRAGMENTS if f in text)
    assert not found, f"{where}: fragments of a secret: {found[:3]}"


def assert_no_fragment_in_files(folder: Path):
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            assert_no_fragment(p.read_bytes(), str(p))


@pytest.fixture
def secrets_env(monkeypatch):
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    return dict(SECRETS)


# --- 1. redact before cutting ----------------------------------------------------------------
def test_bounded_redacts_before_it_cuts(secrets_env):
    from usermap.redact import bounded
    for cut in range(150, 220):
        text = "x" * (cut - 20) + HS_TOKEN + " and more"
        out = bounded(text, cut)
        assert len(out) <= cut
        assert_no_fragment(out, f"cut at {cut}")


def test_redact_masks_base64_forms_at_every_alignment(secrets_env):
    from usermap.redact import redact
    for pad in ("", "a", "ab", "abc"):
        blob = base64.b64encode((pad + "\0" + SMTP_USER + "\0" + SMTP_PASSWORD).encode())
        assert_no_fragment(redact(f"535 5.7.8 bad: {blob.decode()}"), repr(pad))
        assert_no_fragment(redact(base64.b64encode((pad + SMTP_PASSWORD).encode()).decode()))
    assert_no_fragment(redact(quote(HS_TOKEN + "/+", safe="")))


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers 500 with the request's credentials in the body, placed so a 200-character cut
    falls inside the token; optionally a 2 MB body."""

    big = False

    def do_GET(self):
        auth = (self.headers.get("Authorization") or "").split()[-1:]
        query = parse_qs(urlsplit(self.path).query).get("api_token", [""])
        token = (auth or query)[0]
        if self.big:
            body = json.dumps({"message": "y" * 2_000_000 + token + " " + token,
                               "category": "ERR"}).encode()
        else:
            body = ("z" * 185 + token + " (echoed)").encode()
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def echo_server():
    servers = []

    def start(big=False):
        handler = type("Echo", (_Echo,), {"big": big})
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"
    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _fetch_config(tmp_path: Path, url: str) -> Path:
    cfg = tmp_path / "usermap.toml"
    cfg.write_text(f'[hubspot]\nhost = "{url}"\n[aloware]\nbase_url = "{url}"\n'
                   "[fetch]\nattempts = 1\ntotal_seconds = 30\nbackoff = 0.001\n")
    return cfg


@pytest.mark.parametrize("big", [False, True], ids=["token-at-the-cut", "2MB-body"])
def test_a_server_echoing_the_token_leaks_no_fragment(tmp_path, echo_server, secrets_env, big):
    url = echo_server(big)
    r = usermap("fetch", "--out", tmp_path / "snap", "--config", _fetch_config(tmp_path, url),
                env=secrets_env)
    assert r.returncode == 4, r.stderr
    assert_no_fragment(r.stdout + r.stderr, "fetch output")
    assert len(r.stderr) < 10_000
    assert_no_fragment_in_files(tmp_path)


@pytest.mark.parametrize("source", ["hubspot", "aloware"])
def test_each_source_quotes_an_echoed_token_without_a_fragment(echo_server, secrets_env, source):
    from usermap.errors import SourceError
    from usermap.sources.api import aloware, hubspot
    from usermap.sources.api.retry import Retrier, RetryPolicy
    url = echo_server()
    retrier = Retrier(RetryPolicy(attempts=1, total_seconds=30, backoff=0))
    with pytest.raises(SourceError) as e:
        if source == "hubspot":
            hubspot.fetch_owners(url, HS_TOKEN, retrier)
        else:
            aloware.get_api_users(url, AL_TOKEN, retrier)
    assert_no_fragment(str(e.value), source)


def test_a_2mb_error_gives_a_bounded_run_json_and_a_small_email(tmp_path, secrets_env):
    from usermap import runner
    from usermap.config import Config
    from usermap.notify import MAX_MESSAGE_BYTES, build_message
    result = runner.RunResult(run_id="r1", run_dir=tmp_path)
    result._fail("SourceError", "HTTP 500 " + "y" * 2_000_000 + HS_TOKEN, 4)
    text = json.dumps(result.to_json())
    assert len(text) < 10_000
    assert_no_fragment(text, "run.json")
    assert_no_fragment(result.describe(), "describe")
    rep = runner._failure_report(result)
    msg = build_message(rep, Config()).as_bytes()
    assert len(msg) < MAX_MESSAGE_BYTES
    assert_no_fragment(msg, "e-mail")
    assert_no_fragment(rep.to_html(), "failure page")


# --- SMTP that echoes the AUTH line ------------------------------------------------------------
class _EchoSMTP(socketserver.StreamRequestHandler):
    """A minimal SMTP server that offers one AUTH mechanism and refuses every login, quoting
    what the client sent (PLAIN: the base64 of "\\0user\\0password"; LOGIN: the base64 of the
    password)."""

    mechanism = "PLAIN"

    def _say(self, line: str):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self._say("220 echo.test ESMTP")
        while True:
            line = self.rfile.readline().decode(errors="replace").strip()
            if not line:
                return
            verb = line.split()[0].upper()
            if verb in ("EHLO", "HELO"):
                self._say("250-echo.test")
                self._say(f"250 AUTH {self.mechanism}")
            elif verb == "AUTH" and self.mechanism == "PLAIN":
                self._say(f"535 5.7.8 rejected {line.split(' ', 2)[-1]} (decoded: "
                          f"{base64.b64decode(line.split()[-1]).decode(errors='replace')})")
            elif verb == "AUTH":
                self._say("334 UGFzc3dvcmQ6")
                pw = self.rfile.readline().decode().strip()
                self._say(f"535 5.7.8 rejected {line} / {pw} ({base64.b64decode(pw).decode()})")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_an_smtp_server_echoing_the_auth_line_leaks_no_fragment(tmp_path, secrets_env,
                                                                 mechanism, caplog):
    from test_report import world_report
    from usermap.config import Config
    from usermap.notify import notify
    handler = type("Echo", (_EchoSMTP,), {"mechanism": mechanism})
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cfg = Config.from_dict({"smtp": {"host": "127.0.0.1", "port": srv.server_address[1],
                                         "starttls": False, "sender": "u@acme.test",
                                         "recipients": ["ops@acme.test"], "timeout": 10}})
        out = notify(world_report(), cfg, tmp_path)
    finally:
        srv.shutdown()
        srv.server_close()
    assert out["sent"] is False and "535" in out["error"]
    assert_no_fragment(out["error"], "notify error")
    assert_no_fragment(caplog.text, "log")
    assert_no_fragment_in_files(tmp_path)


# --- 2. config values holding a secret; 3. header injection -----------------------------------
# should the config be taken, the fetch fails at once (nothing listens on port 9 of loopback)
_NOWHERE = ("\n[hubspot]\nhost = \"http://127.0.0.1:9\"\n"
            "[fetch]\nattempts = 1\ntotal_seconds = 5\nconnect_timeout = 2\n")
@pytest.mark.parametrize("toml, key", [
    (f'[aloware]\nbase_url = "http://me:{AL_TOKEN}@127.0.0.1:9"\n', "aloware.base_url"),
    (f'[report]\nurl = "https://r.acme.test/{{run_id}}?k={HS_TOKEN}"\n', "report.url"),
    (f'[report]\nurl = "https://r.acme.test/?k={quote(SMTP_PASSWORD)}"\n', "report.url"),
    (f'[smtp]\nrecipients = ["a@acme.test", "{HS_TOKEN}"]\n', "smtp.recipients[1]"),
    (f'[store]\npath = "db-{AL_TOKEN}.sqlite"\n', "store.path"),
])
def test_a_config_value_holding_a_secret_is_refused(tmp_path, secrets_env, toml, key):
    cfg = tmp_path / "usermap.toml"
    cfg.write_text(toml + _NOWHERE)
    r = usermap("fetch", "--out", tmp_path / "snap", "--config", cfg, env=secrets_env)
    assert r.returncode == 2, r.stderr
    assert key in r.stderr and "environment" in r.stderr
    assert_no_fragment(r.stdout + r.stderr)
    assert not (tmp_path / "snap").exists()


def test_short_or_unset_secrets_refuse_nothing(monkeypatch):
    from usermap.config import Config
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "true")       # too short to be looked for
    monkeypatch.delenv("ALOWARE_API_TOKEN", raising=False)
    Config.from_dict({"smtp": {"starttls": True, "sender": "true@acme.test"}})


@pytest.mark.parametrize("toml, key", [
    ('[smtp]\nsender = "u@acme.test\\r\\nBcc: all@evil.test"\n', "smtp.sender"),
    ('[smtp]\nsender = "u@acme.test\\nX: y"\n', "smtp.sender"),
    ('[smtp]\nrecipients = ["ops@acme.test", "a@b.test\\nBcc: all@evil.test"]\n',
     "smtp.recipients[1]"),
])
def test_cr_or_lf_in_mail_addresses_is_exit_2_before_anything_runs(tmp_path, toml, key):
    cfg = tmp_path / "usermap.toml"
    cfg.write_text(toml + _NOWHERE)
    r = usermap("fetch", "--out", tmp_path / "snap", "--config", cfg)
    assert r.returncode == 2, r.stderr
    assert key in r.stderr
    assert not (tmp_path / "snap").exists()


# --- 4. tokens with surrounding whitespace ----------------------------------------------------
def test_a_token_with_a_trailing_newline_is_stripped(tmp_path, sandbox):
    from usermap.sandbox.scenarios import generate
    srv = sandbox(generate(5, seed=1, n_owners=5), hubspot_token="hs-token-123456",
                  aloware_token="al-token-123456")
    cfg = tmp_path / "usermap.toml"
    cfg.write_text(srv.config_toml(users_csv=None), encoding="utf-8")
    r = usermap("fetch", "--out", tmp_path / "snap", "--config", cfg,
                env={"HUBSPOT_ACCESS_TOKEN": "hs-token-123456\n",
                     "ALOWARE_API_TOKEN": "  al-token-123456\r\n"})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "snap" / "hubspot_owners.json").is_file()


@pytest.mark.parametrize("value", ["hs-token\n123456", "hs token 123456", "hs-tok\x00en-1"])
def test_a_token_with_whitespace_inside_is_exit_2_naming_the_variable(tmp_path, value):
    cfg = tmp_path / "usermap.toml"
    cfg.write_text('[hubspot]\nhost = "http://127.0.0.1:9"\n'
                   '[aloware]\nbase_url = "http://127.0.0.1:9"\n')
    r = usermap("fetch", "--out", tmp_path / "snap", "--config", cfg,
                env={"HUBSPOT_ACCESS_TOKEN": value.replace("\x00", "\x01"),
                     "ALOWARE_API_TOKEN": "al-token-123456"})
    assert r.returncode == 2, r.stderr
    assert "HUBSPOT_ACCESS_TOKEN" in r.stderr and "123456" not in r.stderr


# --- 5. ids in commands and links ---------------------------------------------------------------
HOSTILE = ["../../admin?x=1", "1; rm -rf ~", "$(touch pwned)", "a'b\"c`d`", "-rf", "{code}"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_fix_and_decide_commands_shell_quote_every_id(hostile):
    from usermap.output import fix_command
    from usermap.report.build import fix_for
    fix = fix_command(hostile, "hubspot_email_changed", hostile, "email", "snap dir", "d.db")
    assert shlex.split(fix) == ["usermap", "plan", "snap dir", "--store", "d.db", "--out",
                                "fix.json", "--only", hostile]
    decide = fix_command("i1", "aloware_email_changed", hostile, "email", "s", "d.db",
                         owner=hostile)
    keep, unlink = decide.split("  |  ")
    words = shlex.split(keep.removeprefix("keep the link: "))
    assert words == ["usermap", "map", hostile, hostile, "--store", "d.db"]   # no placeholder
    assert shlex.split(unlink.removeprefix("unlink: ")) == ["usermap", "unmap", hostile,
                                                            "--store", "d.db"]
    assert shlex.split(fix_for("hubspot_email_changed", "email", hostile, hostile, hostile))[-1] \
        == hostile
    assert shlex.split(fix_for("x", "email", hostile, "u", "o",
                               "usermap plan S --only {issue_id} {code}")) == [
        "usermap", "plan", "S", "--only", hostile, "x"]


@pytest.mark.parametrize("hostile", HOSTILE + ["ü/€", "%2e%2e"])
def test_profile_links_url_encode_the_id(hostile):
    from usermap.engine.models import profile_link, url_segment
    assert url_segment(hostile) == quote(hostile, safe="")
    link = profile_link("https://app.aloware.com/users/{id}", hostile)
    parts = urlsplit(link)
    assert parts.netloc == "app.aloware.com" and not parts.query and not parts.fragment
    assert parts.path.startswith("/users/") and parts.path.count("/") == 2


@pytest.fixture
def hostile_world(tmp_path):
    """A snapshot whose ids and names are hostile; a store with links that have issues."""
    bad_user, bad_owner = "1; rm -rf ~", "11"
    users = [U(bad_user, A, first="=HYPERLINK(\"http://evil\")", last="+1"),
             U("../../admin?x=1", "b@x.com", first="@SUM(A1)", last="-2"),
             U("3", "c@x.com", first="-Tab")]   # a leading tab is refused on input (control character)
    owners = [O(bad_owner, "other@x.com"), O("12", "zz@x.com")]
    snap = write_snapshot(tmp_path / "snap", users, owners)
    csv = write_links(tmp_path / "links.csv", [L(bad_user, bad_owner, A, A, method="manual")])
    db = tmp_path / "store.db"
    r = usermap("mappings", "import", csv, "--store", db, "--create")
    assert r.returncode == 0, r.stderr
    return snap, db, tmp_path, bad_user, bad_owner


def test_audit_csvs_quote_ids_encode_links_and_neutralise_formulas(hostile_world):
    snap, db, tmp, bad_user, bad_owner = hostile_world
    cfg = tmp / "usermap.toml"
    r = usermap("audit", snap, "--store", db, "--out", tmp / "audit")
    assert r.returncode == 0, r.stderr
    read = lambda n: pd.read_csv(tmp / "audit" / n, dtype=str, keep_default_na=False)  # noqa
    errors = read("errors.csv")
    assert len(errors) >= 1
    fixes = [shlex.split(f.split("  |  ")[0].removeprefix("keep the link: "))
             for f in errors["fix"]]
    assert ["usermap", "map", bad_user, bad_owner, "--store", str(db)] in fixes, fixes
    for words in fixes:
        assert "rm" not in words
    ua = read("unmapped_aloware.csv")
    for link in ua.get("profile_url", []):
        if link:
            assert urlsplit(link).path.count("/") == 2 and not urlsplit(link).query
    for name in ("mapped.csv", "unmapped_aloware.csv", "unmapped_hubspot.csv", "errors.csv"):
        for col, values in read(name).items():
            for v in values:
                assert not v.startswith(("=", "+", "-", "@", "\t", "\r")), (name, col, v)
    assert "'=HYPERLINK" in (tmp / "audit" / "mapped.csv").read_text() + \
        (tmp / "audit" / "unmapped_aloware.csv").read_text()
    assert cfg  # the default profile_url is used (no config)


def test_the_report_and_notebook_tables_quote_ids_and_encode_links(hostile_world):
    from usermap import display, workflow
    from usermap.config import Config
    snap, db, tmp, bad_user, bad_owner = hostile_world
    data = workflow.load(snap, db, create=False)
    result = workflow.audit(data, profile_url=Config().aloware.profile_url)
    assert len(result.errors) >= 1
    cmds = workflow.commands(snap, db)
    for frame in (display.errors_frame(result, cmds),
                  display.errors_by_code(result, cmds).rename(
                      columns={"fix (e.g. the first one)": "fix"})):
        for fix in frame["fix"]:
            words = shlex.split(fix.split("  |  ")[0].removeprefix("keep the link: "))
            assert "rm" not in words and "~" not in words, fix
    rep = workflow.build_report(Config(), result, snapshot=snap, store_path=db,
                                now="2026-01-01T00:00:00Z")
    tables = {t.id: t for t in rep.tables}
    errors = tables["errors"]
    fixes = errors.data[[c.key for c in errors.columns].index("fix")]
    assert any(bad_user in shlex.split(f.split("  |  ")[0].removeprefix("keep the link: "))
               for f in fixes), fixes
    for f in fixes:
        assert "rm" not in shlex.split(f.removeprefix("decide: ").split("  or  ")[0])
    ua = tables["unmapped_aloware"]
    links = ua.data[[c.key for c in ua.columns].index("profile_url")]
    assert "https://app.aloware.com/users/" + quote("../../admin?x=1", safe="") in links
    for link in links:
        assert urlsplit(link).path.count("/") == 2 and not urlsplit(link).query
    page = rep.to_html()
    assert "/users/../../admin" not in page


# --- 6. the mappings export is exact ------------------------------------------------------------
def test_the_mappings_export_round_trips_hostile_values(tmp_path):
    csv = write_links(tmp_path / "links.csv", [
        L("=1+2", "+33", "=cmd|' /C calc'!A0@x.com", "-h@x.com"),
        L("@SUM(A1)", "-5", "@a@x.com", "+b@x.com")])
    db = tmp_path / "s.db"
    r = usermap("mappings", "import", csv, "--store", db, "--create")
    assert r.returncode == 0, r.stderr
    r = usermap("mappings", "export", "--store", db, tmp_path / "out.csv")
    assert r.returncode == 0, r.stderr
    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)
    assert sorted(out["aloware_user_id"]) == ["=1+2", "@SUM(A1)"]
    assert sorted(out["aloware_email"]) == ["=cmd|' /C calc'!A0@x.com", "@a@x.com"]
    db2 = tmp_path / "s2.db"
    assert usermap("mappings", "import", tmp_path / "out.csv", "--store", db2, "--create").returncode == 0
    assert usermap("mappings", "export", "--store", db2, tmp_path / "out2.csv").returncode == 0
    assert (tmp_path / "out2.csv").read_bytes() == (tmp_path / "out.csv").read_bytes()


# --- 7. messages quote bounded pieces of files --------------------------------------------------
def test_an_input_error_quotes_at_most_80_characters_of_a_file(tmp_path):
    secret_line = "BEGIN-PRIVATE-" + "k3y" * 100
    snap = tmp_path / "snap"
    snap.mkdir()
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret_line + "\nmore\n")
    (snap / "aloware_users.csv").symlink_to(secret_file)
    (snap / "hubspot_owners.json").write_text("[]")
    db = tmp_path / "s.db"
    links = write_links(tmp_path / "links.csv", [L("1", "10", A, A)])
    assert usermap("mappings", "import", links, "--store", db, "--create").returncode == 0
    r = usermap("audit", snap, "--store", db, "--out", tmp_path / "audit")
    assert r.returncode == 2, r.stderr
    assert "k3y" * 30 not in r.stderr          # at most ~80 characters of the line
    assert "BEGIN-PRIVATE" in r.stderr or "missing column" in r.stderr


def test_quoted_values_are_bounded():
    from usermap.redact import quoted
    assert len(quoted("x" * 10_000)) <= 82
    assert quoted("abc") == "'abc'"
    assert quoted(5) == "5"
