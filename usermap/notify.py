"""The e-mail notification of a run (docs/design.md §8): build it, keep it as ``notification.eml``,
and send it by SMTP when ``[smtp] host`` is set.

The message is ``multipart/alternative``: the report's plain-text summary and its HTML summary
with the CSS inlined by css-inline (mail clients drop ``<style>``). It stays under
``MAX_MESSAGE_BYTES`` however big the account: the summaries cap every list and value, the full
report is attached only when it is no bigger than ``report.attach_max_bytes`` *and* the whole
message still fits, and otherwise the message names the report's URL (``report.url``, where
``{run_id}`` is replaced) or its path.

Secrets: ``SMTP_USER`` and ``SMTP_PASSWORD`` are read from the environment at the moment of
sending and are never part of the message; error texts pass through ``redact.bounded`` (a
server that echoes the AUTH line, base64 and all, is masked, and its reply is quoted only in
part). ``[smtp] sender`` and ``recipients`` hold no CR, LF or other control character (config.py
refuses them): they become headers.

What it sends: any ``usermap.report.Notification`` (``usermap/report/model.py``), the one
contract it relies on: ``subject()``, ``email_text(location)``, ``email_html(location)`` (with a
``<style>`` block, inlined here), and ``run_id``, ``generated_at``, ``status`` for the headers.
``Report`` (a run) and ``FailureReport`` (a run that did not complete) both satisfy it.

Adapter: files and the network. A failed send raises ``NotifyError`` from ``send``; ``notify``
turns it into ``{"sent": False, "error": ...}`` so a run is never lost to a mail server.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
import threading
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .config import secret
from .errors import NotifyError  # re-exported: usermap.notify.NotifyError
from .files import shown, write_atomic
from .redact import bounded
from .sources.api.deadline import Watchdog

if TYPE_CHECKING:
    from .report.model import Notification

__all__ = ["build_message", "write_eml", "send", "notify", "delivery", "MAX_MESSAGE_BYTES",
           "EML_NAME", "NOT_SENT"]

log = logging.getLogger("usermap.notify")

MAX_MESSAGE_BYTES = 100_000      # "under 100 KB however large the account"
EML_NAME = "notification.eml"
DEFAULT_SENDER = "usermap@localhost"
NOT_SENT = "notification not sent: "     # how run.json, the report and the log say it


def _inline(html: str) -> str:
    import css_inline
    inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_style_tags=False,
                                    keep_link_tags=False)
    return inliner.inline(html)


def _date(generated_at: str) -> str:
    try:
        t = datetime.strptime(generated_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        t = datetime.now(timezone.utc)
    return format_datetime(t)


def _report_url(config, run_id: str) -> str:
    url = (config.report.url or "").strip()
    return url.replace("{run_id}", run_id) if url else ""


def _compose(report: Notification, config, location: dict, attachment: tuple[str, bytes] | None
             ) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = report.subject()
    msg["From"] = config.smtp.sender or DEFAULT_SENDER
    if config.smtp.recipients:
        msg["To"] = ", ".join(config.smtp.recipients)
    msg["Date"] = _date(report.generated_at)
    msg["Message-ID"] = make_msgid(idstring="usermap", domain="usermap.local")
    msg["X-Usermap-Run"] = report.run_id or "-"
    msg["X-Usermap-Status"] = " ".join(str(report.status).split())[:60] or "-"
    msg.set_content(report.email_text(location), subtype="plain", charset="utf-8",
                    cte="quoted-printable")
    msg.add_alternative(_inline(report.email_html(location)), subtype="html", charset="utf-8",
                        cte="quoted-printable")
    if attachment is not None:
        name, maintype, subtype, data = attachment
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def build_message(report: Notification, config, *, report_path=None) -> EmailMessage:
    """The notification for ``report`` (a ``Notification``): multipart/alternative (text +
    HTML with inline CSS), always under MAX_MESSAGE_BYTES. It carries the full report when it
    is small enough; otherwise the first of the report's ``attachments()`` that fits (a
    compact report, the Needs a person list as CSV), so a recipient can act without a
    server; the report's URL is linked when ``[report] url`` is set."""
    path = Path(report_path) if report_path else None
    url = _report_url(config, report.run_id)
    location = {"url": url, "path": shown(path.resolve()) if path else "", "attached": "",
                "attached_what": "", "file": shown(path.name) if path else ""}
    size = path.stat().st_size if path is not None and path.is_file() else None
    candidates = []
    if size is not None and size <= config.report.attach_max_bytes:
        candidates.append(lambda: (path.name, "text", "html", path.read_bytes(),
                                   "the full report (opens offline in a browser)"))
    more = getattr(report, "attachments", None)
    if callable(more) and size is not None:      # a run's report: the e-mail stands for it
        candidates.append(lambda: more(size))
    for c in candidates:
        got = c()
        for name, maintype, subtype, data, what in ([got] if isinstance(got, tuple) else got):
            if len(data) * 1.37 >= MAX_MESSAGE_BYTES:      # base64: cannot fit, skip the work
                continue
            msg = _compose(report, config, location | {"attached": name, "attached_what": what},
                           (name, maintype, subtype, data))
            if len(msg.as_bytes()) < MAX_MESSAGE_BYTES:
                return msg
    msg = _compose(report, config, location, None)
    if len(msg.as_bytes()) >= MAX_MESSAGE_BYTES:  # cannot happen with the capped templates
        raise NotifyError(f"the notification is {len(msg.as_bytes()):,} bytes, over the "
                          f"{MAX_MESSAGE_BYTES:,} limit")
    return msg


def attached(msg: EmailMessage) -> str:
    """The file name of the message's attachment, "" without one."""
    for part in msg.iter_attachments():
        return part.get_filename() or ""
    return ""


def write_eml(msg: EmailMessage, path) -> Path:
    """Keep the message as an .eml file (RFC 5322 bytes), written atomically."""
    data = msg.as_bytes()
    return write_atomic(Path(path), lambda tmp: tmp.write_bytes(data))


def _smtp_class(base, watchdog: Watchdog):
    """``base`` (smtplib.SMTP or SMTP_SSL) whose connection the watchdog can cut from its first
    byte: the greeting is read inside the constructor's connect, before any caller code runs."""
    class Watched(base):
        def _get_socket(self, host, port, timeout):
            sock = socket.create_connection((host, port), timeout, self.source_address)
            watchdog.watch_sock(sock)
            if isinstance(self, smtplib.SMTP_SSL):
                sock = self.context.wrap_socket(sock, server_hostname=self._host)
                watchdog.watch_sock(sock)
            return sock

        def starttls(self, *args, **kwargs):
            reply = super().starttls(*args, **kwargs)
            watchdog.watch_sock(self.sock)         # the TLS socket that replaced the raw one
            return reply
    return Watched


def _converse(msg: EmailMessage, s, sender: str, recipients: list, watchdog: Watchdog,
              deadline: float) -> dict:
    """The SMTP conversation itself; every socket wait is at most what is left of the deadline
    and the watchdog cuts the connection when it passes."""
    user, password = secret("SMTP_USER"), secret("SMTP_PASSWORD")
    context = ssl.create_default_context()
    left = max(0.05, deadline - time.monotonic())
    if s.ssl:
        server = _smtp_class(smtplib.SMTP_SSL, watchdog)(s.host, s.port, timeout=left,
                                                          context=context)
    else:
        server = _smtp_class(smtplib.SMTP, watchdog)(s.host, s.port, timeout=left)
    with server:
        server.ehlo()
        if s.starttls and not s.ssl:
            server.starttls(context=context)
            server.ehlo()
        if user:
            server.login(user, password)
        return server.send_message(msg, from_addr=sender, to_addrs=recipients)


def send(msg: EmailMessage, config) -> None:
    """Send by SMTP per ``[smtp]``: implicit TLS when ``ssl``, else STARTTLS when ``starttls``
    (required: a server without it is an error, never a silent downgrade), else plain. Logs in
    with SMTP_USER/SMTP_PASSWORD from the environment when SMTP_USER is set.

    ``[smtp] timeout`` bounds the whole delivery by the wall clock (design §7): socket timeouts
    bound each read only, and a relay that sends its greeting one line a second resets them for
    ever. The conversation runs in a worker thread; at the deadline its connection is cut and
    ``NotifyError`` says so, whatever the worker is blocked on (a name lookup included)."""
    s = config.smtp
    if not s.host:
        raise NotifyError("[smtp] host is not set")
    recipients = [r for r in s.recipients if r.strip()]
    if not recipients:
        raise NotifyError("[smtp] recipients is empty: nobody to send to")
    sender = s.sender or DEFAULT_SENDER
    where = f"{s.host}:{s.port}"
    deadline = time.monotonic() + s.timeout
    watchdog = Watchdog(deadline, time.monotonic)
    box: dict = {}

    def work():
        try:
            box["refused"] = _converse(msg, s, sender, recipients, watchdog, deadline)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    worker = threading.Thread(target=work, name="usermap-smtp", daemon=True)
    watchdog.start()        # fires at the deadline: left armed when the worker outlives it
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive() or watchdog.fired:
        raise NotifyError(f"SMTP {where}: no complete delivery within the [smtp] timeout "
                          f"of {s.timeout:g} s; the connection was cut")
    watchdog.cancel()
    _raise_for(box, where)


def _raise_for(box: dict, where: str) -> None:
    """The worker's outcome as ``NotifyError`` (refused recipients, SMTP, TLS, network)."""
    e = box.get("error")
    if e is None:
        if box.get("refused"):
            raise NotifyError(f"SMTP {where} refused recipients: "
                              f"{bounded(', '.join(sorted(box['refused'])), 500)}")
        return
    if isinstance(e, smtplib.SMTPNotSupportedError):
        raise NotifyError(f"SMTP {where}: {bounded(e, 500)} (STARTTLS or AUTH not offered; set "
                          "[smtp] starttls = false only for a trusted local relay)") from None
    if isinstance(e, (smtplib.SMTPException, ssl.SSLError, OSError)):
        raise NotifyError(f"SMTP {where}: {type(e).__name__}: {bounded(e, 500)}") from None
    raise e


def delivery(told: dict) -> str:
    """What became of a notification (``notify``'s result as a run records it: ``sent``,
    ``send_error``, ``notification``), in words: "sent", "notification not sent: ..." or
    "written, not sent: no [smtp] host"; "" when none was written."""
    if told.get("send_error"):
        return NOT_SENT + str(told["send_error"])
    if told.get("sent"):
        return "sent"
    return "written, not sent: no [smtp] host" if told.get("notification") else ""


def notify(report: Notification, config, run_dir, *, report_path=None) -> dict:
    """Write ``run_dir/notification.eml`` always, send it when ``[smtp] host`` is set.

    ``report`` is a ``usermap.report.Notification``: a ``Report`` or a ``FailureReport``.
    ``report_path`` is the report's page, attached when small enough.

    Returns ``{"eml": path, "sent": bool, "error": str | None}``; a failed send is logged and
    returned, never raised, so the caller records it and the run is kept.
    """
    msg = build_message(report, config, report_path=report_path)
    eml = write_eml(msg, Path(run_dir) / EML_NAME)
    result = {"eml": str(eml), "sent": False, "error": None}
    if config.smtp.host:
        try:
            send(msg, config)
            result["sent"] = True
            log.info("notification sent to %d recipient(s) via %s", len(config.smtp.recipients),
                     config.smtp.host)
        except Exception as e:  # noqa: BLE001 - a failed send must not lose the run
            result["error"] = bounded(str(e) if isinstance(e, NotifyError)
                                      else f"{type(e).__name__}: {e}", 1000)
            log.warning("notification not sent: %s", result["error"])
            _note_in_report(report, report_path, result["error"])
    return result


def _note_in_report(report: Notification, report_path, error: str) -> None:
    """The report was written (and attached) before the send: write it again saying the
    notification was not sent, so the page people open tells them (design §7)."""
    if not report_path or not hasattr(report, "notes"):
        return
    from dataclasses import replace

    from .report.compose import write_report
    try:
        write_report(replace(report, notes=tuple(report.notes) + (NOT_SENT + error,)),
                     Path(report_path))
    except Exception as e:  # noqa: BLE001 - the run keeps its report as it was
        log.warning("could not add the send failure to %s: %s", report_path, bounded(e, 300))
