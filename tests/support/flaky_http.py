#!/usr/bin/python3
"""An HTTP server on 127.0.0.1 for the retry tests. GET /fail-N/NAME answers
503 to the first N requests for that path, then 200 with NAME's bytes;
GET /always-503 never recovers. GET /strict-range/NAME is an empty object
served as AWS S3 serves one: a ranged GET is 416 (no byte 0 to send), a
plain GET is 200 with no body. GET /slow/NAME answers after 300 ms (so that
concurrent fetches overlap), GET /sleep-MS/NAME after MS ms; GET /hits/PATH
tells how many GETs PATH had. Two 20 MiB S3 objects misbehave on purpose:
/ignore-range/NAME answers every GET with 200 and the whole object, as a
server without range support does; /changing/NAME is replaced right after
its first GET (its ETag moves from "v1" to "v2") and honours If-Match with
412, as S3 does. /ranged/NAME serves the same bytes as a well-behaved
server does (206, Content-Range, ETag "v1"); /wrong-range/NAME answers every
range with a Content-Range one byte later than asked (and those bytes);
/weak/NAME is /ranged/ with a weak ETag, and answers If-Match with 412 (a
weak ETag never matches it).
GET /bytes/PATH tells how many body bytes PATH was sent.
/stream/NAME serves /ranged/'s bytes and lets a test steer each ranged GET by
the offset it starts at: GET /hold/OFFSET makes those GETs wait (before
their headers) until GET /release/OFFSET, and GET /held/OFFSET tells how many
wait now; GET /abort/OFFSET/N makes the next N of them send half their body
and drop the connection; GET /order lists the offsets asked of /stream/ in
the order the GETs arrived (comma-separated). Prints "listening on PORT"
when ready."""
import http.server
import socket
import sys
import threading
import time
from collections import Counter

BIG = (bytes(range(251)) * ((20 << 20) // 251 + 1))[: 20 << 20]

seen = Counter()
sent = Counter()  # body bytes per path
steer = threading.Condition()  # guards the four below
holds = set()  # offsets whose /stream/ GETs wait
held = Counter()  # offset -> GETs waiting now
aborts = Counter()  # offset -> GETs still to cut short
order = []  # offsets asked of /stream/, in arrival order


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/hits/"):
            body = str(seen[self.path[len("/hits"):]]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/bytes/"):
            self.send_body(200, str(sent[self.path[len("/bytes"):]]).encode())
            return
        if self.steered():
            return
        seen[self.path] += 1
        if self.path.startswith("/slow/"):
            time.sleep(0.3)
            body = ("payload of " + self.path).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/sleep-"):
            time.sleep(int(self.path.split("/")[1][len("sleep-"):]) / 1000)
            self.send_body(200, ("payload of " + self.path).encode())
            return
        if self.path.startswith("/ignore-range/"):
            self.send_body(200, BIG, {"ETag": '"v1"'})
            return
        if self.path.startswith("/changing/"):
            etag = '"v1"' if seen[self.path] == 1 else '"v2"'
            if self.headers.get("If-Match") not in (None, etag):
                self.send_body(412, b"")
                return
            first, last = self.headers["Range"][len("bytes="):].split("-")
            first, last = int(first), min(int(last), len(BIG) - 1)
            self.send_body(206, BIG[first : last + 1],
                           {"ETag": etag, "Content-Range": f"bytes {first}-{last}/{len(BIG)}"})
            return
        if self.path.startswith("/ranged/") and "Range" not in self.headers:
            self.send_body(200, BIG, {"ETag": '"v1"'})
            return
        if self.path.startswith("/weak/") and "If-Match" in self.headers:
            self.send_body(412, b"")  # a weak ETag never matches If-Match
            return
        if self.path.startswith(("/ranged/", "/wrong-range/", "/weak/")):
            first, last = self.headers["Range"][len("bytes="):].split("-")
            first, last = int(first), min(int(last), len(BIG) - 1)
            if first >= len(BIG):
                self.send_body(416, b"", {"Content-Range": f"bytes */{len(BIG)}"})
                return
            if self.path.startswith("/wrong-range/"):
                first, last = first + 1, min(last + 1, len(BIG) - 1)
            etag = 'W/"v1"' if self.path.startswith("/weak/") else '"v1"'
            self.send_body(206, BIG[first : last + 1],
                           {"ETag": etag, "Content-Range": f"bytes {first}-{last}/{len(BIG)}"})
            return
        if self.path.startswith("/strict-range/"):
            ranged = self.headers.get("Range") is not None
            self.send_response(416 if ranged else 200)
            if ranged:
                self.send_header("Content-Range", "bytes */0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
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

    def steered(self):
        """The /stream/ object and its controls; False for other paths."""
        parts = self.path.strip("/").split("/")
        if parts[0] in ("hold", "release", "held", "abort", "order"):
            with steer:
                if parts[0] == "hold":
                    holds.add(int(parts[1]))
                elif parts[0] == "release":
                    holds.discard(int(parts[1]))
                    steer.notify_all()
                elif parts[0] == "abort":
                    aborts[int(parts[1])] += int(parts[2])
                body = {"held": str(held[int(parts[1])]) if parts[0] == "held" else "",
                        "order": ",".join(map(str, order))}.get(parts[0], "ok")
            self.send_body(200, body.encode())
            return True
        if parts[0] != "stream":
            return False
        first, last = self.headers["Range"][len("bytes="):].split("-")
        first, last = int(first), min(int(last), len(BIG) - 1)
        with steer:
            order.append(first)
            held[first] += 1
            while first in holds:
                steer.wait()
            held[first] -= 1
            cut = aborts[first] > 0
            if cut:
                aborts[first] -= 1
        if first >= len(BIG):
            self.send_body(416, b"", {"Content-Range": f"bytes */{len(BIG)}"})
            return True
        body = BIG[first : last + 1]
        headers = {"ETag": '"v1"', "Content-Range": f"bytes {first}-{last}/{len(BIG)}"}
        if not cut:
            self.send_body(206, body, headers)
            return True
        self.send_response(206)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True
        return True

    def send_body(self, status, body, headers={}):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sent[self.path] += len(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("listening on", server.server_address[1], flush=True)
server.serve_forever()
