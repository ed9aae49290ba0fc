"""usermap.toml and the environment (docs/design.md §6).

Every key is optional; ``Config.load(None)`` gives the defaults. Secrets never live in the file:
``HUBSPOT_ACCESS_TOKEN``, ``ALOWARE_API_TOKEN``, ``SMTP_USER`` and ``SMTP_PASSWORD`` are read
from the environment by ``secrets()`` at the moment they are needed, and are never stored on the
Config object (so a Config can be printed, logged or passed to papermill safely).

``[fetch]`` bounds the retries and timeouts of ``usermap fetch`` and of the fetch in ``usermap run``
(both directories share one budget; see ``sources/retry.py``). The defaults suit the real APIs; a
test or an impatient scheduler sets smaller ones::

    [fetch]
    attempts = 8              # tries per request, the first included (429, 5xx, cut connections)
    total_seconds = 900.0     # hard wall-clock deadline of the whole fetch, slow reads included
    backoff = 1.0             # first wait after a 5xx or a cut connection; doubles each time
    backoff_max = 30.0        # longest such wait
    max_wait = 120.0          # a 429 asking to wait longer than this is not waited for (exit 4)
    connect_timeout = 10.0    # seconds to connect
    read_timeout = 120.0      # seconds a server may stay silent while answering

Every ``[fetch]`` value and ``[smtp] timeout`` must be a finite number above 0 (at most a week;
``attempts`` at least 1): NaN, inf, 0, negatives and strings are a ConfigError naming the key.

``redact.SECRET_ENV_VARS`` is the one list of the variables that hold secrets: ``secret()`` reads only
those, and ``redact`` masks their values everywhere.

Adapter: reads files and the environment; imports nothing but errors (and files' regular-file
reader).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import ConfigError
from .redact import SECRET_ENV_VARS

__all__ = ["ENGINES", "ENGINE_VARIABLE", "check_engine", "engine_from_env", "Config",
           "HubSpotConfig", "AlowareConfig", "StoreConfig", "RunsConfig", "SmtpConfig",
           "ReportConfig", "FetchConfig", "ActivitiesConfig", "secret"]



@dataclass(frozen=True)
class HubSpotConfig:
    host: str = "https://api.hubapi.com"
    api_version: str = "2026-03"   # date-versioned CRM object paths; "v3" for the v3 paths
    portal_id: str = ""         # set: the tab links owners to the portal's user page


@dataclass(frozen=True)
class AlowareConfig:
    base_url: str = "https://app.aloware.com"
    users_csv: str = ""
    profile_url: str = "https://app.aloware.com/users/{id}"


@dataclass(frozen=True)
class StoreConfig:
    path: str = "usermap.db"


@dataclass(frozen=True)
class RunsConfig:
    dir: str = "runs"
    keep: int = 30


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    sender: str = ""
    recipients: tuple = ()
    timeout: float = 30.0


@dataclass(frozen=True)
class ReportConfig:
    mask_emails: bool = False
    url: str = ""               # where the full report is published, linked from the e-mail
    attach_max_bytes: int = 5_000_000
    activities_csv: str = ""


@dataclass(frozen=True)
class ActivitiesConfig:
    """Impact and repair of logged calls and SMS (DESIGN §10)."""

    enabled: bool = False            # `usermap run` includes the impact
    app_id: str = ""                 # Aloware's app id in HubSpot (the owner history's sourceId)
    rate_share: float = 0.5          # share of the account's API limits usermap may use
    ten_second_limit: int = 190      # the account's documented burst limit (requests per 10 s)
    guard_share: float = 0.2         # a repair changing more of the scanned activities needs --force


@dataclass(frozen=True)
class FetchConfig:
    """Retry bounds and timeouts of a fetch (the fields of ``sources.retry.RetryPolicy``)."""

    attempts: int = 8
    total_seconds: float = 900.0
    backoff: float = 1.0
    backoff_max: float = 30.0
    max_wait: float = 120.0
    connect_timeout: float = 10.0
    read_timeout: float = 120.0


_NO_CONFIG = ("config file not found; give the path of your usermap.toml (docs/configuration.md; "
              "`usermap sandbox --config-out usermap.toml` writes one for the sandbox), or leave "
              "out --config for the defaults")

_SECTIONS = {"hubspot": HubSpotConfig, "aloware": AlowareConfig, "store": StoreConfig,
             "runs": RunsConfig, "smtp": SmtpConfig, "report": ReportConfig,
             "fetch": FetchConfig, "activities": ActivitiesConfig}


@dataclass(frozen=True)
class Config:
    hubspot: HubSpotConfig = field(default_factory=HubSpotConfig)
    aloware: AlowareConfig = field(default_factory=AlowareConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    runs: RunsConfig = field(default_factory=RunsConfig)
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    activities: ActivitiesConfig = field(default_factory=ActivitiesConfig)
    path: str = ""  # the file it came from ("" for defaults); relative paths resolve against it

    @classmethod
    def load(cls, path: str | os.PathLike | None) -> "Config":
        """Read usermap.toml; ``None`` or a missing default file gives the defaults."""
        if path is None:
            return cls()
        p = Path(path)
        if not os.path.lexists(p):
            raise ConfigError(_NO_CONFIG, file=str(p))
        import tomllib  # here: a command without a config file does not load the parser
        try:
            from .files import read_regular_bytes   # a FIFO or a device: exit 2, never a hang
            raw = tomllib.loads(read_regular_bytes(p, error=ConfigError).decode("utf-8"))
        except FileNotFoundError:
            raise ConfigError(_NO_CONFIG, file=str(p)) from None
        except UnicodeDecodeError:
            raise ConfigError("not UTF-8", file=str(p)) from None
        except OSError as e:  # a folder, no permission...
            raise ConfigError(f"cannot read the config file: {e.strerror}", file=str(p)) from None
        except RecursionError:
            raise ConfigError("not valid TOML: nested too deeply", file=str(p)) from None
        except tomllib.TOMLDecodeError as e:
            # tomllib says "... (at line 3, column 7)"
            import re
            m = re.search(r"at line (\d+), column (\d+)", str(e))
            raise ConfigError(f"not valid TOML: {e}", file=str(p),
                              row=int(m.group(1)) if m else None,
                              column=m.group(2) if m else None) from None
        return cls.from_dict(raw, source=str(p))

    @classmethod
    def from_dict(cls, raw: dict, source: str = "usermap.toml") -> "Config":
        sections = {}
        if not isinstance(raw, dict):
            raise ConfigError("expected a table of sections", file=source)
        for name, value in raw.items():
            if name not in _SECTIONS:
                raise ConfigError(f"unknown section [{name}]; known: {', '.join(_SECTIONS)} "
                                  f"(see docs/configuration.md)",
                                  file=source, column=name)
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table", file=source, column=name)
            sections[name] = _section(_SECTIONS[name], name, value, source)
        _no_secret_values(raw, source)
        for secret_key in ("token", "access_token", "api_token", "password"):
            for name, value in raw.items():
                if isinstance(value, dict) and secret_key in value:
                    raise ConfigError(f"secrets do not belong in the config file; set them in "
                                      f"the environment ({', '.join(SECRET_ENV_VARS)})",
                                      file=source, column=f"{name}.{secret_key}")
        return cls(**sections, path=source)

    def resolve(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value)
        if p.is_absolute() or not self.path:
            return p
        return Path(self.path).parent / p

    def to_dict(self) -> dict:
        d = asdict(self)
        d["smtp"]["recipients"] = list(self.smtp.recipients)
        return d


def _section(kind, name: str, value: dict, source: str):
    known = {f.name: f for f in fields(kind)}
    kwargs = {}
    for key, v in value.items():
        if key in ("token", "access_token", "api_token", "password"):
            raise ConfigError(f"secrets do not belong in the config file; set them in the "
                              f"environment ({', '.join(SECRET_ENV_VARS)})", file=source,
                              column=f"{name}.{key}")
        if key not in known:
            raise ConfigError(f"unknown key; known keys of [{name}]: {', '.join(known)} "
                              f"(see docs/configuration.md)",
                              file=source, column=f"{name}.{key}")
        default = known[key].default
        want = type(default)
        if kind is HubSpotConfig and key == "portal_id":   # a number or a string of digits
            v = str(v) if isinstance(v, int) and not isinstance(v, bool) else v
            if not isinstance(v, str) or (v and not v.isdigit()):
                raise ConfigError("[hubspot] portal_id: expected the portal's number (digits)",
                                  file=source, column="hubspot.portal_id")
        if want is tuple:
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError("expected a list of strings", file=source,
                                  column=f"{name}.{key}")
            v = tuple(v)
        elif want is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        elif not isinstance(v, want) or (want is int and isinstance(v, bool)):
            raise ConfigError(f"[{name}] {key}: expected {want.__name__}, found "
                              f"{type(v).__name__}",
                              file=source, column=f"{name}.{key}")
        kwargs[key] = v
    if kind is SmtpConfig:
        _no_header_injection(kwargs, source)
    if kind is RunsConfig and kwargs.get("keep", 1) < 1:
        raise ConfigError("keep must be at least 1", file=source, column="runs.keep")
    if kind is SmtpConfig and not 0 < kwargs.get("port", 587) < 65536:
        raise ConfigError("[smtp] port out of range (1-65535)", file=source, column="smtp.port")
    for key in ("rate_share", "guard_share"):
        if kind is ActivitiesConfig and key in kwargs and not 0 < kwargs[key] <= 1:
            raise ConfigError(f"[activities] {key} must be above 0 and at most 1",
                              file=source, column=f"activities.{key}")
    if kind in _BOUNDS:
        for key, v in kwargs.items():
            if key in _BOUNDS[kind]:
                _check_bound(name, key, v, _BOUNDS[kind][key], source)
    return kind(**kwargs)


# Numeric keys that bound time or counts: finite, and above their floor ("> 0" or ">= 1").
_BOUNDS = {
    FetchConfig: {"attempts": 1, "total_seconds": 0, "backoff": 0, "backoff_max": 0,
                  "max_wait": 0, "connect_timeout": 0, "read_timeout": 0},
    SmtpConfig: {"timeout": 0},
    ActivitiesConfig: {"rate_share": 0, "ten_second_limit": 1, "guard_share": 0},
}
_MAX_SECONDS = 7 * 24 * 3600.0   # a week: any longer bound is a typo, and overflows timers


def _check_bound(section: str, key: str, v, floor: int, source: str) -> None:
    """A numeric bound of ``[section] key``: finite, positive (attempts: at least 1), at most a
    week of seconds. NaN, inf, 0 and negatives are ConfigError (exit 2) naming the key."""
    import math
    where = f"[{section}] {key}"
    if floor >= 1:
        if v < floor:
            raise ConfigError(f"{where} must be at least {floor}, found {v}", file=source,
                              column=f"{section}.{key}")
        return
    if not math.isfinite(v) or not v > 0:
        raise ConfigError(f"{where} must be a finite number of seconds above 0, found {v}",
                          file=source, column=f"{section}.{key}")
    if v > _MAX_SECONDS:
        raise ConfigError(f"{where} must be at most {_MAX_SECONDS:g} s (a week), found {v:g}",
                          file=source, column=f"{section}.{key}")


# --- secrets and values that must not hold them -------------------------------------------------
_TOKENS = ("HUBSPOT_ACCESS_TOKEN", "ALOWARE_API_TOKEN")   # a token is one word: no space inside
_MIN_SECRET_IN_VALUE = 8    # a shorter secret would match ordinary values ("true", "587")


def _control(s: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in s)


def secret(name: str, *, required: bool = False) -> str:
    """A secret from the environment (never from a file).

    Surrounding whitespace is dropped (``export TOKEN=$(cat token.txt)`` keeps the newline); a
    token with whitespace or a control character inside, or any secret with a control
    character, is a ConfigError (exit 2) naming the variable, never showing the value."""
    assert name in SECRET_ENV_VARS, name
    raw = os.environ.get(name, "")
    value = raw.strip() if name in _TOKENS else raw.strip("\r\n")
    if _control(value) or (name in _TOKENS and any(c.isspace() for c in value)):
        raise ConfigError(f"the environment variable {name} holds whitespace or a control "
                          f"character inside it; set it to the secret alone: "
                          f"`export {name}=…`")
    if required and not value:
        raise ConfigError(not_set([name]))
    return value


def not_set(names) -> str:
    """The one message (and advice) for secrets missing from the environment, naming each as
    an environment variable with the command that sets it."""
    names = list(names)
    verb = "is" if len(names) == 1 else "are"
    kind = "tokens come" if all(n in _TOKENS for n in names) else "secrets come"
    return (f"{' and '.join(names)} {verb} not set: "
            f"`export {' '.join(n + '=…' for n in names)}` ({kind} from the environment only, "
            f"never from usermap.toml), then run again")


def require_tokens() -> None:
    """Both API tokens set (``usermap run`` checks before any notebook starts); a ConfigError
    naming every missing one otherwise."""
    missing = [n for n in _TOKENS if not secret(n)]
    if missing:
        raise ConfigError(not_set(missing))


def _walk(value, key: str):
    """(dotted key, string) for every string in a parsed TOML value, keys included."""
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{key}.{k}" if key else str(k)
            yield sub, str(k)
            yield from _walk(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{key}[{i}]")
    elif isinstance(value, str):
        yield key, value


def _no_secret_values(raw: dict, source: str) -> None:
    """Refuse a config that holds a secret's value anywhere (a URL's user-info, a report URL's
    query, any string): the config is printed, logged and handed to notebooks. Names the key,
    never the value."""
    import base64
    from urllib.parse import quote, quote_plus, unquote
    secrets = {}
    for var in SECRET_ENV_VARS:
        if var == "SMTP_USER":   # the login is often the sender's address: not refused here
            continue
        v = os.environ.get(var, "").strip()
        if len(v) >= _MIN_SECRET_IN_VALUE:
            secrets[var] = {v, quote(v, safe=""), quote_plus(v),
                            base64.b64encode(v.encode()).decode().rstrip("=")}
    if not secrets:
        return
    for key, text in _walk(raw, ""):
        for var, forms in secrets.items():
            if any(f in text or f in unquote(text) for f in forms):
                safe_key = key if not any(f in key for f in forms) else "(a key)"
                raise ConfigError(f"holds the value of {var}; secrets do not belong in the "
                                  "config file, only in the environment", file=source,
                                  column=safe_key)


def _no_header_injection(kwargs: dict, source: str) -> None:
    """[smtp] sender and recipients become mail headers: a CR, LF or other control character
    would add headers of its own (header injection)."""
    if _control(kwargs.get("sender", "")):
        raise ConfigError("a control character (CR, LF...) in an e-mail address", file=source,
                          column="smtp.sender")
    for i, r in enumerate(kwargs.get("recipients", ())):
        if _control(r):
            raise ConfigError("a control character (CR, LF...) in an e-mail address",
                              file=source, column=f"smtp.recipients[{i}]")


# --- the engine switch ------------------------------------------------------------------------
ENGINES = ("auto", "exact", "fast")
ENGINE_VARIABLE = "USERMAP_ENGINE"


def check_engine(value: str) -> str:
    """``value`` when it names an engine, else a ConfigError (exit 2) naming the variable."""
    if value not in ENGINES:
        raise ConfigError(f"{ENGINE_VARIABLE} must be one of {', '.join(ENGINES)}, not "
                          f"{value[:40]!r}")
    return value


def engine_from_env() -> str:
    """``USERMAP_ENGINE`` (default "auto"): which readers and kernels a command uses. "exact":
    json, pandas' tokenizer and the scalar e-mail keys, where the semantics live; "fast":
    msgspec and Arrow wherever they can vouch for the input, whatever its size; "auto": as
    "fast", with size thresholds where the fast path does not pay (small mappings files). Read
    by the command line only; everything below it takes ``engine=`` as a parameter."""
    return check_engine(os.environ.get(ENGINE_VARIABLE, "") or "auto")

