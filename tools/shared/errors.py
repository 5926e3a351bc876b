"""The one refusal the host programs share, and the one way a program turns it (or a
missing file, or Ctrl-C) into a line on stderr and an exit status."""
import sys


class ToolError(Exception):
    """An expected failure (bad input, a missing tool, a meter that refuses): the program
    prints it as one line and exits 1. Subclasses say which program or step refused."""


def exit_status(program, action, refusals=(ToolError,), worded=()):
    """Runs action() for a program's main() and returns its exit status: 0 when it
    returns; 1 for an expected failure, printed as one line "program: reason" (refusals:
    exception types printed as they are; worded: (exception types, exc -> text) pairs for
    failures said otherwise; an OSError names its file); 130 for Ctrl-C. Anything else is
    a bug and goes up with its traceback."""
    try:
        action()
    except KeyboardInterrupt:
        print("%s: interrupted" % program, file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted below; what is not expected is raised
        text = _refusal_text(exc, refusals, worded)
        if text is None:
            raise
        print("%s: %s" % (program, text), file=sys.stderr)
        return 1
    return 0


def _refusal_text(exc, refusals, worded):
    if isinstance(exc, refusals):
        return str(exc)
    for kinds, say in worded:
        if isinstance(exc, kinds):
            return say(exc)
    if isinstance(exc, OSError):
        return "%s: %s" % (exc.filename or "", exc.strerror or exc)
    return None
