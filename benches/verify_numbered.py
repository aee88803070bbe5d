"""Checks a numbered run (sluice-bench --numbered-log): every record of an
acknowledged request landed exactly once, none of a refused request landed, a
record of an unanswered request (a killed daemon) landed at most once, and no
other record landed. Reads gzip or uncompressed NDJSON objects, or Parquet files
(a `seq` column), under a folder; error output objects count as landed only if
asked (`--errors-ok`: their records' raw data is checked the same way).

    python3 benches/verify_numbered.py SENT_LOG OUT_DIR

Prints one line of counts; exits 1 on any violation.
"""
import base64
import gzip
import json
import os
import re
import sys
from collections import Counter

SEQ = re.compile(rb'"seq":"(\d{20})"')


def landed(root):
    """Counts of each number in the objects under root, and the error records."""
    seen = Counter()
    errors = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            if "#" in name:
                # A local destination's object being written (`<key>#<n>`),
                # left by a kill: not an object.
                continue
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                raw = f.read()
            if name.endswith(".parquet"):
                import pyarrow.parquet as pq

                for seq in pq.read_table(path, columns=["seq"]).column("seq").to_pylist():
                    seen[int(seq)] += 1
                continue
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            if "/errors/" in path or path.startswith(os.path.join(root, "errors")):
                for line in raw.splitlines():
                    errors += 1
                    data = base64.b64decode(json.loads(line)["rawData"])
                    for m in SEQ.finditer(data):
                        seen[int(m.group(1))] += 1
                continue
            for m in SEQ.finditer(raw):
                seen[int(m.group(1))] += 1
    return seen, errors


def main():
    log, root = sys.argv[1], sys.argv[2]
    acked, refused, unknown = set(), set(), set()
    with open(log) as f:
        for line in f:
            first, count, outcome = line.split()
            numbers = range(int(first), int(first) + int(count))
            {"Acked": acked, "Refused": refused, "Unknown": unknown}[outcome].update(numbers)
    seen, errors = landed(root)
    missing = [n for n in acked if seen[n] == 0]
    twice = [n for n, c in seen.items() if c > 1]
    refused_landed = [n for n in refused if seen[n] > 0]
    strangers = [n for n in seen if n not in acked and n not in unknown and n not in refused]
    unknown_landed = sum(1 for n in unknown if seen[n] > 0)
    print(
        f"acked {len(acked)}, landed {sum(seen.values())} ({errors} as error records), "
        f"missing {len(missing)}, duplicated {len(twice)}, refused but landed {len(refused_landed)}, "
        f"never sent {len(strangers)}; unanswered {len(unknown)}, of which landed {unknown_landed}"
    )
    if missing or twice or refused_landed or strangers:
        print(f"violations: missing {sorted(missing)[:5]}, duplicated {sorted(twice)[:5]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
