"""What a program prints for a result: one JSON object with --json, else its lines."""
import json


def emit(as_json, data, lines):
    if as_json:
        print(json.dumps(data, sort_keys=True))
    else:
        for line in lines:
            print(line)
