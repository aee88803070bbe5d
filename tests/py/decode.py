"""Decodes an object with a standard reader and writes the raw bytes to stdout.

Usage: decode.py FORMAT FILE, FORMAT one of zip | zip-stored | hadoop_snappy.
zip: Python's zipfile; prints the single entry's name on stderr; the entry
must be deflated (zip-stored: stored, as compression_level = 0 writes it).
hadoop_snappy: python-snappy's Hadoop stream decoder.
"""
import sys
import zipfile

import snappy


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    if fmt in ("zip", "zip-stored"):
        method = zipfile.ZIP_DEFLATED if fmt == "zip" else zipfile.ZIP_STORED
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            sys.stderr.write(json_line(infos))
            if len(infos) != 1:
                raise SystemExit(f"expected one entry, found {len(infos)}")
            if infos[0].compress_type != method:
                raise SystemExit(f"entry is not {'deflated' if fmt == 'zip' else 'stored'}")
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
