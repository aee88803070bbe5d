"""Test plugin: the standard library a plugin author reaches for, imported where it
is used (inside the function, as the SDK must make work), and exceptions of both
kinds: one record's (that record fails) and the whole call's (the batch fails
with the exception's message).

Records: "modules" answers one JSON object of results; "when <access-log time>"
answers the parsed time; "raise" raises; a batch holding "crash" raises from
transform itself."""
from sluice_transform import Transformer, ok


class WitWorld(Transformer):
    def transform(self, batch):
        if any(record.data.startswith(b"crash") for record in batch):
            raise RuntimeError("boom raised by the plugin")
        return super().transform(batch)

    def record(self, record):
        text = record.text.strip()
        if text == "raise":
            raise ValueError("bad record")
        if text.startswith("when "):
            from datetime import datetime

            return ok(datetime.strptime(text[5:], "%d/%b/%Y:%H:%M:%S %z").isoformat())
        import base64
        import csv
        import gzip
        import hashlib
        import io
        import ipaddress
        import json
        import re
        import urllib.parse
        import zlib

        query = urllib.parse.urlparse("https://example.com/p?a=1&b=2").query
        return ok({
            "re": list(re.match(r"(\d+)\.(\d+)", "12.34").groups()),
            "json": json.loads('{"k": [1, 2]}'),
            "gzip": gzip.decompress(gzip.compress(b"hello")).decode(),
            "zlib": zlib.crc32(b"hello"),
            "base64": base64.b64encode(b"hello").decode(),
            "sha256": hashlib.sha256(b"hello").hexdigest(),
            "md5": hashlib.md5(b"hello").hexdigest(),
            "csv": next(csv.reader(io.StringIO('a,"b,c",d'))),
            "query": urllib.parse.parse_qs(query),
            "private": ipaddress.ip_address("10.1.2.3").is_private,
        })
