#!/usr/bin/env python3
"""Checks a JSON document against a JSON Schema (draft-07) with Debian's python3-jsonschema.

  checkschema.py SCHEMA DOC [KEY...]

The KEYs pick a part of DOC to check ("predicate" checks DOC["predicate"]). Prints every
violation with where it is and exits 1 when there is any; a schema that is not valid draft-07
is an error too.
"""
import json
import sys

import jsonschema


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    schema = json.load(open(sys.argv[1]))
    doc = json.load(open(sys.argv[2]))
    for key in sys.argv[3:]:
        doc = doc[key]
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print("%s: %s" % ("/".join(str(p) for p in e.path) or "(top)", e.message))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
