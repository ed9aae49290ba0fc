"""`usermap` for the people who read it (issue 13): every option has a help line, every command
an example that parses, and the errors a newcomer hits say what to do next, without suggesting
the command that just failed."""

from __future__ import annotations

import argparse
import gc
import json
import shlex
import socket
from pathlib import Path

import pandas as pd
import pytest

from tiny import L, O, U
from usermap import cli

pytestmark = pytest.mark.issue(13)  # the issue that asked for these tests


# --- help -----------------------------------------------------------------------------------
def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _commands(parser=None, prefix=()):
    """(name path, parser) of every command and subcommand, depth first."""
    parser = parser or cli.build_parser()
    sp = _subparsers(parser)
    if sp is None:
        return []
    out = []
    for name, p in sp.choices.items():
        out.append(((*prefix, name), p))
        out.extend(_commands(p, (*prefix, name)))
    return out


COMMANDS = _commands()


def test_the_known_commands_are_all_walked():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"fetch", "audit", "plan", "apply", "init", "mappings", "mappings import",
            "mappings export", "map", "unmap", "run", "report", "runs", "undo",
            "sandbox"} <= names


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_option_has_a_help_line(path, parser):
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        assert (action.help or "").strip(), f"usermap {' '.join(path)}: {action.dest} has no help"


def test_the_top_level_options_have_help_lines():
    for action in cli.build_parser()._actions:
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            assert (action.help or "").strip(), action.dest


def test_usermap_help_lists_every_command_with_one_line():
    parser = cli.build_parser()
    text = parser.format_help()
    lines = text.splitlines()
    for choice in _subparsers(parser)._choices_actions:
        assert (choice.help or "").strip(), choice.dest
        hits = [ln for ln in lines if ln.split()[:1] == [choice.dest]]
        assert hits, f"{choice.dest} is not listed in `usermap --help`"
        assert len(hits[0].split()) > 1, f"{choice.dest} has no description on its line"
    assert "Example" in text and "usermap COMMAND --help" in text


def test_usermap_help_through_main(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "commands:" in out and "fetch" in out and "sandbox" in out


def _examples(parser) -> list[str]:
    text = parser.epilog or ""
    assert "Example" in text
    return [ln.strip() for ln in text.split("Example", 1)[1].splitlines()
            if ln.strip().startswith("usermap ")]


@pytest.mark.parametrize("path,parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_help_shows_an_example_that_parses(path, parser):
    text = parser.format_help()
    assert "Example" in text
    assert isinstance(parser.formatter_class, type) and issubclass(
        parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    examples = _examples(parser)
    assert examples, f"usermap {' '.join(path)}: no example command line"
    for line in examples:
        argv = shlex.split(line.rstrip("&").strip())[1:]
        args = cli.build_parser().parse_args(argv)  # a real command line: it parses
        assert args.command == argv[0]
        # the example is shown as written (the raw formatter keeps its lines)
        assert line in text


# --- newcomer errors: exit code, a next step, never the failed command's own suggestion --------
@pytest.fixture
def here(tmp_path, monkeypatch):
    """A clean folder with no usermap.toml and no tokens in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    gc.unfreeze()  # cli.main freezes the GC and turns it off for its short-lived process
    gc.enable()


def _snapshot(d: Path, users, owners) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(users).to_csv(d / "aloware_users.csv", index=False)
    (d / "hubspot_owners.json").write_text(json.dumps(owners), encoding="utf-8")
    return d


def _links_csv(path: Path, links) -> Path:
    if links:
        pd.DataFrame(links).drop(columns=["updated_at"]).to_csv(path, index=False)
    else:
        path.write_text("aloware_user_id,hubspot_owner_id,aloware_email,hubspot_email,method,"
                        "mapped_at\n", encoding="utf-8")
    return path


def _run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _store(t: Path, name="store.db", links=()):
    db = t / name
    assert cli.main(["init", "--store", str(db)]) == 0
    if links:
        assert cli.main(["mappings", "import", str(_links_csv(t / f"{name}.csv", links)),
                         "--store", str(db)]) == 0
    return db


def _world(t: Path):
    snap = _snapshot(t / "snap", [U(1, "a@x.com"), U(2, "b@x.com")],
                     [O(10, "a@x.com"), O(11, "b@x.com")])
    return snap, _store(t)


def case_missing_store(t):
    snap, _ = _world(t)
    return ["audit", snap, "--store", t / "nope.db", "--out", t / "audit"]


def case_map_missing_store(t):
    return ["map", "1", "10", "--store", t / "nope.db"]


def case_import_missing_store(t):
    return ["mappings", "import", _links_csv(t / "l.csv", []), "--store", t / "nope.db"]


def case_missing_snapshot(t):
    _, db = _world(t)
    return ["audit", t / "no-such-snapshot", "--store", db, "--out", t / "audit"]


def case_half_snapshot(t):
    _, db = _world(t)
    (t / "half").mkdir()
    (t / "half" / "aloware_users.csv").write_text("id,first_name,last_name,email,status,kind\n")
    return ["plan", t / "half", "--store", db, "--out", t / "plan.json"]


def case_report_missing_snapshot(t):
    _, db = _world(t)
    return ["report", t / "nothing", "--store", db, "--out", t / "r.html"]


def case_missing_token(t):
    return ["fetch", "--out", t / "snap-new"]


def case_unreachable_host(t):
    port = _closed_port()
    (t / "c.toml").write_text(
        f'[hubspot]\nhost = "http://127.0.0.1:{port}"\n[aloware]\nbase_url = '
        f'"http://127.0.0.1:{port}"\n[fetch]\nattempts = 1\ntotal_seconds = 10\n'
        f'connect_timeout = 2\nbackoff = 0.01\n', encoding="utf-8")
    return ["fetch", "--out", t / "snap-new", "--config", t / "c.toml"]


def _plan(t, snap, db, name="plan.json"):
    assert cli.main(["plan", str(snap), "--store", str(db), "--out", str(t / name)]) == 0
    return t / name


def case_stale_plan(t):
    snap, db = _world(t)
    plan = _plan(t, snap, db)
    assert cli.main(["map", "1", "10", "--store", str(db)]) == 0
    return ["apply", plan, "--store", db, "--yes"]


def case_foreign_plan(t):
    snap, db = _world(t)
    plan = _plan(t, snap, db)
    other = _store(t, "other.db")
    return ["apply", plan, "--store", other, "--yes"]


def case_missing_plan(t):
    _, db = _world(t)
    return ["apply", t / "plan.json", "--store", db]


def _guarded(t):
    n = 12
    snap = _snapshot(t / "snap", [U(i, f"u{i}@x.com", status="deleted") for i in range(1, n + 1)],
                     [O(100 + i, f"u{i}@x.com") for i in range(1, n + 1)])
    db = _store(t, links=[L(i, 100 + i, f"u{i}@x.com", f"u{i}@x.com") for i in range(1, n + 1)])
    return snap, db


def case_guard_plan(t):
    snap, db = _guarded(t)
    return ["plan", snap, "--store", db, "--out", t / "plan.json"]


def case_guard_import(t):
    _, db = _guarded(t)
    return ["mappings", "import", _links_csv(t / "empty.csv", []), "--store", db]


def case_bad_config_key(t):
    (t / "c.toml").write_text('[hubspot]\nhots = "https://api.hubapi.com"\n', encoding="utf-8")
    return ["fetch", "--out", t / "snap-new", "--config", t / "c.toml"]


def case_bad_config_section(t):
    (t / "c.toml").write_text('[hubspt]\nhost = "https://api.hubapi.com"\n', encoding="utf-8")
    return ["fetch", "--out", t / "snap-new", "--config", t / "c.toml"]


def case_missing_config(t):
    snap, db = _world(t)
    return ["audit", snap, "--store", db, "--out", t / "audit", "--config", t / "nope.toml"]


def case_out_is_folder(t):
    snap, db = _world(t)
    (t / "reports").mkdir()
    return ["report", snap, "--store", db, "--out", t / "reports"]


def case_out_is_store(t):
    snap, db = _world(t)
    return ["plan", snap, "--store", db, "--out", db]


def case_out_unwritable(t):
    snap, db = _world(t)
    return ["report", snap, "--store", db, "--out", "/proc/usermap-test/report.html"]


# (case, exit code, each of these in the message, none of these in it)
CASES = [
    (case_missing_store, 2, ["store not found", "usermap init --store"], ["usermap audit"]),
    (case_map_missing_store, 2, ["usermap init --store", "--create"], ["usermap map"]),
    (case_import_missing_store, 2, ["usermap init --store", "--create"],
     ["usermap mappings import"]),
    (case_missing_snapshot, 2, ["snapshot folder not found", "usermap fetch --out",
                                "usermap sandbox"], ["usermap audit"]),
    (case_half_snapshot, 2, ["hubspot_owners.json", "usermap fetch --out"], ["usermap plan"]),
    (case_report_missing_snapshot, 2, ["usermap fetch --out"], ["usermap report"]),
    (case_missing_token, 2, ["HUBSPOT_ACCESS_TOKEN", "environment only",
                             "export HUBSPOT_ACCESS_TOKEN="], ["usermap fetch"]),
    (case_unreachable_host, 4, ["connection refused", "in usermap.toml"], ["usermap fetch"]),
    (case_stale_plan, 3, ["changed since", "new plan", "usermap plan"], ["usermap apply"]),
    (case_foreign_plan, 3, ["not on this store", "--store", "usermap plan"], ["usermap apply"]),
    (case_missing_plan, 2, ["plan file not found", "usermap plan"], ["usermap apply"]),
    (case_guard_plan, 3, ["removes 12 of 12", "Review", "--force"], ["usermap plan"]),
    (case_guard_import, 3, ["removes 12 of 12", "--force"], ["usermap mappings import"]),
    (case_bad_config_key, 2, ["hubspot.hots", "known keys", "host", "docs/configuration.md"],
     ["usermap fetch"]),
    (case_bad_config_section, 2, ["[hubspt]", "hubspot", "docs/configuration.md"],
     ["usermap fetch"]),
    (case_missing_config, 2, ["config file not found", "docs/configuration.md"],
     ["usermap audit"]),
    (case_out_is_folder, 2, ["is a folder", "give a file's path"], ["usermap report"]),
    (case_out_is_store, 2, ["would overwrite the store", "choose another path"],
     ["usermap plan"]),
    (case_out_unwritable, 2, ["cannot write in", "folder you can write to"],
     ["usermap report"]),
]


@pytest.mark.parametrize("case,code,says,never", CASES, ids=[c[0].__name__[5:] for c in CASES])
def test_a_newcomer_error_says_what_to_do_next(here, capsys, monkeypatch, case, code, says,
                                              never):
    if case is case_out_unwritable and not Path("/proc/self").exists():
        pytest.skip("needs /proc")
    if case is case_unreachable_host:   # tokens given: the host is what fails
        monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-test")
        monkeypatch.setenv("ALOWARE_API_TOKEN", "test-token")
    argv = case(here)
    capsys.readouterr()
    got, err = _run(argv, capsys)
    assert got == code, err
    assert err.startswith("usermap: error: "), err
    for text in says:
        assert text in err, f"{text!r} not in {err!r}"
    for text in never:
        assert text not in err, f"the failed command's own {text!r} is suggested: {err!r}"
    if case is case_unreachable_host:
        assert "[aloware] base_url" in err or "[hubspot] host" in err, err


# --- every --out: a folder, a path below a file, an unwritable place: exit 2, before anything ---
def _outputs(t):
    snap, db = _world(t)
    return {
        "fetch": lambda out: ["fetch", "--out", out],
        "audit": lambda out: ["audit", snap, "--store", db, "--out", out],
        "plan": lambda out: ["plan", snap, "--store", db, "--out", out],
        "undo": lambda out: ["undo", "20260101T000000Z-0000", "--store", db, "--out", out],
        "report": lambda out: ["report", snap, "--store", db, "--out", out],
        "mappings export": lambda out: ["mappings", "export", "--store", db, out],
    }


FOLDER_OUTPUTS = {"fetch", "audit"}


@pytest.mark.parametrize("command", ["fetch", "audit", "plan", "undo", "report",
                                     "mappings export"])
def test_every_out_is_checked_before_anything_is_read(here, capsys, command):
    argv_for = _outputs(here)[command]
    (here / "a-file.txt").write_text("not usermap's\n", encoding="utf-8")
    (here / "a-folder").mkdir()
    (here / "a-folder" / "keep.txt").write_text("mine\n", encoding="utf-8")
    wrong_kind = here / ("a-file.txt" if command in FOLDER_OUTPUTS else "a-folder")
    bad = [wrong_kind, here / "a-file.txt" / "below" / "x.json"]
    if Path("/proc/self").exists():
        bad.append("/proc/usermap-test/out.json")
    for out in bad:
        capsys.readouterr()
        code, err = _run(argv_for(out), capsys)
        assert code == 2, (out, err)
        assert err.startswith("usermap: error: ") and "unexpected" not in err, err
        assert "choose" in err or "give" in err, err   # a next step
    assert (here / "a-file.txt").read_text(encoding="utf-8") == "not usermap's\n"
    assert (here / "a-folder" / "keep.txt").read_text(encoding="utf-8") == "mine\n"


def test_a_missing_parent_folder_is_made(here, capsys):
    snap, db = _world(here)
    code, err = _run(["report", snap, "--store", db, "--out", here / "new" / "deeper" / "r.html"],
                     capsys)
    assert code == 0, err
    assert (here / "new" / "deeper" / "r.html").is_file()


def test_the_writable_check_leaves_nothing_behind(here, capsys):
    snap, db = _world(here)
    before = sorted(p.name for p in here.iterdir())
    _run(["plan", snap, "--store", db, "--out", here / "plan.json"], capsys)
    after = sorted(p.name for p in here.iterdir())
    assert [n for n in after if n.startswith(".")] == [n for n in before if n.startswith(".")]
    assert set(after) - set(before) == {"plan.json"}
