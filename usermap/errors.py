"""The exception tree of usermap, and the exit code each branch maps to.

Every error usermap raises on purpose derives from ``UsermapError``. ``cli.py`` is the one place
that turns them into exit codes (DESIGN.md §6)::

    UsermapError                      exit 1  anything unexpected that we still name
    ├── InputError                    exit 2  bad usage, config or input; names file, row, column
    │   ├── ConfigError                       usermap.toml or environment
    │   └── PlanFileError                     a plan file that is not one, or was edited by hand
    ├── SafetyError                   exit 3  refused for safety
    │   ├── RemovalGuardError                 the plan removes too many links (use --force)
    │   ├── StalePlanError                    the store changed since the plan was made
    │   └── LockedError                       another run holds the lock
    └── SourceError                   exit 4  a source failed
        ├── AuthError                         401/403: bad token or missing scope
        ├── RateLimitError                    429s outlasted the retry budget
        └── IncompleteListingError            a listing stopped half-way

``EXIT_CODES`` is the one table of what each exit code means; the CLI, the runner's summary
and the failure report all read it. This module imports nothing from usermap.
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
    "EXIT_CODES",
    "exit_code_for",
    "exit_meaning",
]

#: The meaning of every exit code of ``usermap`` (DESIGN.md §6): the one table.
EXIT_CODES = {
    0: "done",
    1: "unexpected error",
    2: "bad usage, config or input",
    3: "refused for safety",
    4: "a source failed",
    130: "interrupted",
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


class LockedError(SafetyError):
    """Another run holds the lock."""


class SourceError(UsermapError):
    """A source (HubSpot, Aloware) failed; no partial data was used."""

    exit_code = 4


class AuthError(SourceError):
    """The source refused the credentials (bad token, or a missing scope)."""


class RateLimitError(SourceError):
    """Rate limiting outlasted the retry budget."""


class IncompleteListingError(SourceError):
    """A listing stopped half-way (cut connection, missing page)."""


def exit_code_for(exc: BaseException) -> int:
    """The exit code for an exception: its class's, or 1 for anything unexpected."""
    return getattr(exc, "exit_code", 1) if isinstance(exc, UsermapError) else 1


def exit_meaning(code: int) -> str:
    """What an exit code means (``EXIT_CODES``), "error" for a code usermap does not use."""
    return EXIT_CODES.get(code, "error")
