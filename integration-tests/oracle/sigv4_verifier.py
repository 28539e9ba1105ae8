"""An HTTPS endpoint that takes OTLP/HTTP requests only when their SigV4 signature is the one
botocore computes — an implementation independent of the aws-sigv4 crate that signs them.

Started by the integration tests (integration-tests/tests/aws_sigv4_otlp.rs) with the
Python of moto's virtual environment, which has botocore:

    python sigv4_verifier.py --cert C --key K --access-key A --secret-key S
        [--session-token T] --region R

It prints its port on the first line of standard output. Each POST is checked:
- the Authorization header's credential scope names the expected key, today's date, the
  region, and the service its path wants (/v1/traces: xray, /v1/logs: logs);
- the session token (X-Amz-Security-Token) is the expected one; "expired" is refused as
  AWS refuses an expired token (403 ExpiredTokenException);
- the signature, recomputed by botocore's SigV4Auth over the signed headers, the method,
  path and body, is the one sent.
A request that passes is answered 200 with an empty OTLP response and appended as one JSON
line to the --record file (path, service, whether it was gzip-compressed, the base64 body,
uncompressed); one that does not gets 403 with the reason, and one JSON line with
"refused". A path that starts with /too-large/ is answered 413 (and recorded as refused).
"""

import argparse
import base64
import gzip
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

SERVICES = {"/v1/traces": "xray", "/v1/logs": "logs"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--session-token")
    parser.add_argument("--region", required=True)
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    lock = threading.Lock()

    def record(entry):
        with lock, open(args.record, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def answer(self, status, body=b"", content_type="text/plain"):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if self.path.startswith("/too-large/"):
                record({"path": self.path, "refused": "413 Request Entity Too Large"})
                return self.answer(413, b"Request Entity Too Large")
            self.service = None
            problem = self.check(body)
            if problem:
                record({"path": self.path, "refused": problem})
                return self.answer(403, problem.encode())
            compressed = self.headers.get("Content-Encoding") == "gzip"
            record({
                "path": self.path,
                "service": self.service,
                "gzip": compressed,
                "body": base64.b64encode(gzip.decompress(body) if compressed else body).decode(),
            })
            self.answer(200, b"", "application/x-protobuf")

        def check(self, body):
            authorization = self.headers.get("Authorization", "")
            if not authorization.startswith("AWS4-HMAC-SHA256 "):
                return "UnrecognizedClientException: no SigV4 Authorization header"
            fields = dict(
                part.strip().split("=", 1)
                for part in authorization[len("AWS4-HMAC-SHA256 "):].split(",")
            )
            key, date, region, service, terminal = fields["Credential"].split("/")
            self.service = service
            amz_date = self.headers.get("X-Amz-Date", "")
            wanted = SERVICES.get(self.path.split("?")[0])
            if key != args.access_key:
                return f"UnrecognizedClientException: key {key}"
            if (date, region, service, terminal) != (amz_date[:8], args.region, wanted, "aws4_request"):
                return f"InvalidSignatureException: scope {fields['Credential']} for {self.path}"
            token = self.headers.get("X-Amz-Security-Token")
            if token == "expired":
                return "ExpiredTokenException: The security token included in the request is expired"
            if token != args.session_token:
                return "UnrecognizedClientException: session token"
            signed = fields["SignedHeaders"].split(";")
            if "host" not in signed or "x-amz-date" not in signed:
                return f"InvalidSignatureException: signed headers {signed}"
            headers = {name: self.headers[name] for name in signed}
            request = AWSRequest(
                method=self.command,
                url=f"https://{self.headers['Host']}{self.path}",
                data=body,
                headers=headers,
            )
            request.context["timestamp"] = amz_date
            auth = SigV4Auth(Credentials(args.access_key, args.secret_key, token), service, region)
            canonical = auth.canonical_request(request)
            expected = auth.signature(auth.string_to_sign(request, canonical), request)
            if expected != fields["Signature"]:
                return f"SignatureDoesNotMatch: botocore computes {expected}; canonical request:\n{canonical}"
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
