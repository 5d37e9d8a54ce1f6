"""A webhook receiver for trying Waybill out: prints every delivery it gets.

    python3 scripts/webhook_receiver.py 9000

Answers 204 to every POST and prints the Standard Webhooks headers and the body.
"""

import http.server
import sys


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(
            f"{self.headers.get('webhook-id')} "
            f"t={self.headers.get('webhook-timestamp')} "
            f"{self.headers.get('webhook-signature')}\n  {body.decode('utf-8', 'replace')}",
            flush=True,
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
