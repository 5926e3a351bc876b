"""Writing a generated test-vector file, or checking that it is up to date (the shared
tail of tools.vectors.gcm and tools.vectors.ed25519)."""
import os


def write_or_check(out, text, command, check):
    """check: 0 if `out` holds exactly `text`, else 1 with the command that refreshes it.
    Otherwise write it. Returns the exit code."""
    if check:
        try:
            with open(out) as f:
                current = f.read()
        except OSError:
            current = None
        if current != text:
            print("%s is out of date: run %s" % (out, command))
            return 1
        print("%s is up to date" % out)
        return 0
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    return 0
