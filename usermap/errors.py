"""The exception tree of usermap, and the exit code each branch maps to.

Every error usermap raises on purpose derives from ``UsermapError``. ``cli.py`` is the one place
that turns them into exit codes (docs/design.md §6)::

    UsermapError                      exit 1  anything unexpected that we still name
    ├── InputError                    exit 2  bad usage, config or input; names file, row, column
    │   ├── ConfigError                       usermap.toml or environment
    │   └── PlanFileError                     a plan file that is not one, or was edited by hand
    ├── SafetyError                   exit 3  refused for safety
    │   ├── RemovalGuardError                 the plan removes too many links (use --force)
    │   ├── StalePlanError                    the store changed since the plan was made
    │   ├── StoreConflictError                a change does not fit the store as it is
    │   ├── ForeignPlanError                  the plan was made on another store (store id)
    │   ├── LockedError                       another run holds the lock
    │   └── ShareGuardError                   a repair moves too large a share of activities
    ├── SourceError                   exit 4  a source failed
    │   ├── AuthError                         401/403: bad token or missing scope
    │   ├── RateLimitError                    429s outlasted the retry budget
    │   ├── IncompleteListingError            a listing stopped half-way
    │   ├── BadAnswerError                    an answer of the wrong shape: not the array asked
    │   │                                     for, a field of the wrong type (names the endpoint
    │   │                                     and the field)
    │   └── CrmValidationError                HubSpot refused a request's values (a 400)
    ├── StoreWriteError               exit 1  the store's disk is full (or refused the write)
    ├── NotifyError                   exit 1  the notification could not be sent
    └── NotebookFailedError           exit *  a notebook run failed; carries the exit code of
                                              the error raised inside it (an instance attribute)

    Exception (internal signals: caught inside usermap, never reach a caller)
    ├── Retryable                             a source failure worth another try (sources.retry)
    ├── RecutSignal                           a JSON piece did not parse as whole elements
    │                                         (sources.snapshot reads element by element then)
    └── RequestInvalid                        the sandbox refuses a request as HubSpot would
                                              (a 400 VALIDATION_ERROR, with its context)

    BaseException
    └── RunKilled                     exit 143/130  SIGTERM/SIGINT stopped `usermap run` (raised
                                              by the runner's handler, caught by the runner)

``error_class(name)`` and ``exit_code_for_name(name)`` look a class up by its name (an exception
raised inside a notebook reaches the runner only as its class name).

``EXIT_CODES`` is the one table of what each exit code means; the CLI, the runner's summary
and the failure report all read it.

This module imports nothing from usermap at import time (``Retryable`` imports ``redact`` when
one is made).
"""

from __future__ import annotations

__all__ = [
    "UsermapError",
    "InputError",
    "ConfigError",
    "PlanFileError",
    "SafetyError",
    "RemovalGuardError",
    "StalePlanError",
    "LockedError",
    "SourceError",
    "AuthError",
    "RateLimitError",
    "IncompleteListingError",
    "BadAnswerError",
    "EXIT_CODES",
    "exit_meaning",
    "StoreConflictError",
    "ForeignPlanError",
    "StoreWriteError",
    "NotifyError",
    "NotebookFailedError",
    "Retryable",
    "RecutSignal",
    "RequestInvalid",
    "ShareGuardError",
    "CrmValidationError",
    "RunKilled",
    "exit_code_for",
    "error_class",
    "exit_code_for_name",
]

#: The meaning of every exit code of ``usermap`` (docs/design.md §6): the one table.
EXIT_CODES = {
    0: "done",
    1: "unexpected error",
    2: "bad usage, config or input",
    3: "refused for safety",
    4: "a source failed",
    130: "interrupted (SIGINT)",
    143: "killed (SIGTERM)",
}


class UsermapError(Exception):
    """Base of every error usermap raises on purpose."""

    exit_code = 1


class InputError(UsermapError):
    """Bad usage, config or input. The message names the file, the row and the column.

    ``file``, ``row`` (1-based line or element number, None when the whole file is wrong) and
    ``column`` are kept as attributes so tests and callers need not parse the message.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.file, self.row, self.column = file, row, column
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ConfigError(InputError):
    """usermap.toml or the environment is wrong."""


class PlanFileError(InputError):
    """A plan file that is not a usermap plan, or whose checksum shows it was edited."""


class SafetyError(UsermapError):
    """Refused for safety; nothing was changed."""

    exit_code = 3


class RemovalGuardError(SafetyError):
    """The plan removes more links than the guard allows."""


class StalePlanError(SafetyError):
    """The store's revision differs from the one the plan was made against."""


class StoreConflictError(SafetyError):
    """A change does not fit the store as it is (its 'before' is not what the store holds)."""


class ForeignPlanError(SafetyError):
    """The plan was made on another store (its store id is not this store's), or records no
    store id at all (made by a usermap before store ids)."""


class LockedError(SafetyError):
    """Another run holds the lock."""


class ShareGuardError(SafetyError):
    """A repair would change the owner of more activities than the guard allows (use --force)."""


class SourceError(UsermapError):
    """A source (HubSpot, Aloware) failed; no partial data was used."""

    exit_code = 4


class AuthError(SourceError):
    """The source refused the credentials (bad token, or a missing scope)."""


class RateLimitError(SourceError):
    """Rate limiting outlasted the retry budget."""


class IncompleteListingError(SourceError):
    """A listing stopped half-way (cut connection, missing page)."""


class BadAnswerError(SourceError):
    """A source answered with data of the wrong shape or type (an ``id`` that is a list, an
    ``archived`` that is not a boolean, not a JSON array…); the message names the endpoint, the
    element and the field. Nothing fetched is used."""


class CrmValidationError(SourceError):
    """HubSpot refused a request's values (HTTP 400 VALIDATION_ERROR); ``invalid_owners``: the
    owner ids its message names as not valid (a batch update is refused whole for them)."""

    def __init__(self, message: str, invalid_owners: set):
        super().__init__(message)
        self.invalid_owners = invalid_owners


class StoreWriteError(UsermapError):
    """The store could not be written for a reason outside usermap's input: the disk (or the
    file size limit) is full. Nothing was changed: SQLite rolled the transaction back."""


class NotifyError(UsermapError):
    """The notification could not be sent (SMTP refused, unreachable, TLS or login failed)."""


class NotebookFailedError(UsermapError):
    """A notebook did not complete; carries the exit code of its failure.

    ``exit_code`` is per instance: the code of the error raised inside the notebook (looked up
    by ``exit_code_for_name(ename)``), 1 for anything unexpected.
    """

    def __init__(self, notebook: str, exit_code: int, ename: str, evalue: str, cell: int | None,
                 seconds: float):
        self.notebook, self.exit_code, self.ename, self.evalue = notebook, exit_code, ename, evalue
        self.cell, self.seconds = cell, seconds
        super().__init__(f"{notebook}: {ename}: {evalue}")


# --- internal signals: not UsermapErrors, caught where they are raised --------------------------
class RunKilled(BaseException):
    """SIGTERM or SIGINT stopped ``usermap run`` (raised by the runner's signal handler, so that
    the notebook being executed stops at once). Not an ``Exception``: nothing on the way may
    swallow it. ``exit_code`` is 128 + the signal number (143 SIGTERM, 130 SIGINT)."""

    def __init__(self, signum: int):
        import signal
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        try:
            self.signame = signal.Signals(self.signum).name
        except ValueError:
            self.signame = f"signal {self.signum}"
        super().__init__(f"stopped by {self.signame}")


class Retryable(Exception):
    """A failure worth another try: ``kind`` is RATE_LIMIT, SERVER or CONNECTION.

    ``wait`` is what the server asked for (seconds), or None for our own backoff.
    """

    def __init__(self, kind: str, detail: str, wait: float | None = None):
        from .redact import bounded   # at call time; redact imports nothing of usermap
        super().__init__(bounded(detail))
        self.kind, self.detail, self.wait = kind, bounded(detail), wait


class RequestInvalid(Exception):
    """A request the sandbox refuses as HubSpot does, with a 400 VALIDATION_ERROR: the message,
    and its context (sandbox.crm answers it)."""

    def __init__(self, message: str, **context):
        super().__init__(message)
        self.context = context


class RecutSignal(Exception):
    """A piece of an owners JSON array did not parse as whole elements: read element by element
    instead (sources.snapshot)."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception: its class's, or 1 for anything unexpected."""
    return getattr(exc, "exit_code", 1) if isinstance(exc, UsermapError) else 1


def exit_meaning(code: int) -> str:
    """What an exit code means (``EXIT_CODES``), "error" for a code usermap does not use."""
    return EXIT_CODES.get(code, "error")


def _named() -> dict[str, type]:
    out, todo = {}, [UsermapError]
    while todo:
        cls = todo.pop()
        out.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    return out


def error_class(name: str) -> type | None:
    """The UsermapError class (this module's tree) named ``name``, or None."""
    return _named().get(str(name or ""))


def exit_code_for_name(name: str) -> int:
    """The exit code of an exception known only by its class name (e.g. raised inside a
    notebook): its class's, or 1 for a name outside the tree."""
    cls = error_class(name)
    return int(getattr(cls, "exit_code", 1)) if cls is not None else 1
