"""An HTTP proxy in front of a Kinesis-compatible server that refuses every second
GetRecords call with ProvisionedThroughputExceededException (HTTP 400), as Kinesis
does past 5 reads per shard per second. Other calls pass through unchanged.

Usage: throttling_proxy.py PORT UPSTREAM COUNTER_FILE
"""

import http.server
import json
import sys
import threading
import urllib.error
import urllib.request

PORT, UPSTREAM, COUNTER = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
lock = threading.Lock()
state = {"reads": 0, "throttled": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target", "")
        if target.endswith(".GetRecords"):
            with lock:
                state["reads"] += 1
                throttle = state["reads"] % 2 == 0
                if throttle:
                    state["throttled"] += 1
                    with open(COUNTER, "w") as f:
                        f.write(str(state["throttled"]))
            if throttle:
                answer = json.dumps(
                    {
                        "__type": "ProvisionedThroughputExceededException",
                        "message": "Rate exceeded for shard",
                    }
                ).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(UPSTREAM + self.path, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                status, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
