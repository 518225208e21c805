#!/usr/bin/python3
"""An HTTP server on 127.0.0.1 for the retry tests. GET /fail-N/NAME answers
503 to the first N requests for that path, then 200 with NAME's bytes;
GET /always-503 never recovers. Prints "listening on PORT" when ready."""
import http.server
import sys
from collections import Counter

seen = Counter()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen[self.path] += 1
        parts = self.path.strip("/").split("/")
        if parts[0].startswith("fail-") and seen[self.path] > int(parts[0][5:]):
            body = ("payload of " + parts[-1]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening on", server.server_address[1], flush=True)
server.serve_forever()
