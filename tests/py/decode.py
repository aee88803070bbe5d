"""Decodes an object with a standard reader and writes the raw bytes to stdout.

Usage: decode.py FORMAT FILE, FORMAT one of zip | hadoop_snappy.
zip: Python's zipfile; prints the single entry's name on stderr.
hadoop_snappy: python-snappy's Hadoop stream decoder.
"""
import sys
import zipfile

import snappy


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    if fmt == "zip":
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            sys.stderr.write(json_line(infos))
            if len(infos) != 1:
                raise SystemExit(f"expected one entry, found {len(infos)}")
            if infos[0].compress_type != zipfile.ZIP_DEFLATED:
                raise SystemExit("entry is not deflated")
            sys.stdout.buffer.write(z.read(infos[0]))
    elif fmt == "hadoop_snappy":
        with open(path, "rb") as f:
            data = f.read()
        sys.stdout.buffer.write(snappy.HadoopStreamDecompressor().decompress(data))
    else:
        raise SystemExit(f"unknown format {fmt}")


def json_line(infos):
    import json
    return json.dumps([i.filename for i in infos]) + "\n"


if __name__ == "__main__":
    main()
