"""What tools.vectors.gcm and tools.vectors.ed25519 share: their command line (--out,
--check), where cryptography-vectors keeps its files, and writing a generated fixture or
checking that it is up to date."""
import argparse
import os


def arguments(argv, doc, default_out):
    """The extractor's arguments: --out (default_out) and --check."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--out", default=default_out, help="JSON file to write")
    parser.add_argument("--check", action="store_true",
                        help="only check that the file is up to date (exit 1 if not)")
    return parser.parse_args(argv)


def vectors_path(*parts):
    """A file or folder inside PyPI cryptography-vectors; exits with one line if it is not
    installed."""
    try:
        import cryptography_vectors
    except ImportError:
        raise SystemExit("error: cryptography-vectors is not installed (run `make venv`)") \
            from None
    return os.path.join(os.path.dirname(cryptography_vectors.__file__), *parts)


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
