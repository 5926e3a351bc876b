"""Reading a JSON file a user hands a program, with the one-line refusals every program
gives for it (cannot read it, not JSON)."""
import json

from tools.shared.errors import ToolError


def read_json(path, what="", refusal=ToolError):
    """The JSON value in `path`; `refusal` ("cannot read <what><path>: ..." or "<what><path>
    is not valid JSON (...)") if it cannot be read or parsed. what: e.g. "calibration "."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as exc:
        raise refusal("cannot read %s%s: %s" % (what, path, exc.strerror or exc))
    except ValueError as exc:
        raise refusal("%s%s is not valid JSON (%s)" % (what, path, exc))
