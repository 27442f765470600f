"""Exceptions a user can act on.

Every error that the command line turns into a one-line message (instead of a traceback)
derives from :class:`HfcbenchError`; its text names the bad value and the fix.
"""


class HfcbenchError(Exception):
    """A problem the user can fix (bad name, bad file, bad parameter)."""


class UnknownComponentError(HfcbenchError, KeyError):
    """A dataset, model, detector or attack name that is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateComponentError(HfcbenchError):
    """Two components registered under one name."""


class DataError(HfcbenchError):
    """A data file that is missing, corrupt, or holds arrays of the wrong form."""


class NotFittedError(HfcbenchError, RuntimeError):
    """A detector or mixture used before ``fit``."""


class InvalidParameterError(HfcbenchError, ValueError):
    """A hyper-parameter outside its allowed range."""


#: What a user's code (a plugin detector or attack, a model factory) may raise that hfcbench turns
#: into a failure of that code alone: any exception, ``SystemExit`` included (a plugin calling
#: ``sys.exit`` must not end the run silently). Ctrl-C (``KeyboardInterrupt``) still stops the run.
PLUGIN_FAILURES = (Exception, SystemExit)


def failure_text(exc: BaseException, *, first_line: bool = False) -> str:
    """``Type: message`` of a user's code that failed with ``exc`` (with ``first_line``, only the
    message's first line, at most 200 characters); a ``sys.exit`` says so."""
    message = str(exc)
    if first_line:
        message = (message.strip().splitlines() or [""])[0][:200]
    hint = " (it called sys.exit; raise an exception instead)" if isinstance(exc, SystemExit) else ""
    return f"{type(exc).__name__}: {message}{hint}"
