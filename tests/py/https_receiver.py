"""A Firehose HTTP endpoint over TLS, for testing `ca_file`: answers every POST with
200 and the request's id, and appends {"requestId", "records"} lines to OUT. It
listens on a free loopback port and prints "ready <port>" once it accepts.

Usage: https_receiver.py CERT KEY OUT
"""
import base64
import gzip
import http.server
import json
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        request = json.loads(body)
        records = [base64.b64decode(r["data"]).decode() for r in request["records"]]
        with open(sys.argv[3], "a") as out:
            out.write(json.dumps({"requestId": request["requestId"], "records": records}) + "\n")
        answer = json.dumps({"requestId": request["requestId"], "timestamp": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", server.server_address[1], flush=True)
server.serve_forever()
