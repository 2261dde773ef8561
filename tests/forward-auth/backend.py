#!/usr/bin/env python3
"""A legacy app behind nginx, for tests/forward-auth/run.sh: Python's standard library only.

Every request must carry X-Vneid-Assertion, the JWT the gateway's /auth gave nginx. The backend
verifies it against the gateway's JWKS as any app should — RS256 signature (RSASSA-PKCS1-v1_5
with SHA-256, done by hand with pow() so that no package is needed), JOSE header typ
"vneid-assertion+jwt", aud = the app id, iss = the gateway, exp in the future, a lifetime of at
most 60 s — and answers JSON: who it is, and the X-Vneid-* headers it received. Without a valid
assertion it answers 403 and says why.

    backend.py PORT GATEWAY_ISSUER APP_ID
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, ISSUER, APP_ID = int(sys.argv[1]), sys.argv[2], sys.argv[3]
TYP = "vneid-assertion+jwt"
# DER prefix of a SHA-256 DigestInfo (RFC 8017 §9.2).
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")
_jwks: dict[str, tuple[int, int]] = {}


def b64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def key(kid: str) -> tuple[int, int] | None:
    if kid not in _jwks:  # a new key: fetch the JWKS again
        with urllib.request.urlopen(f"{ISSUER}/jwks", timeout=5) as r:
            for k in json.load(r)["keys"]:
                if k.get("kty") == "RSA":
                    n = int.from_bytes(b64(k["n"]), "big")
                    e = int.from_bytes(b64(k["e"]), "big")
                    _jwks[k["kid"]] = (n, e)
    return _jwks.get(kid)


def rs256_ok(n: int, e: int, message: bytes, signature: bytes) -> bool:
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(size, "big")
    t = SHA256_PREFIX + hashlib.sha256(message).digest()
    expected = b"\x00\x01" + b"\xff" * (size - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


def verify(token: str) -> dict:
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWS")
    header = json.loads(b64(parts[0]))
    if header.get("typ") != TYP:
        raise ValueError(f"typ {header.get('typ')!r}")
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r} (this test backend verifies RS256)")
    k = key(header.get("kid", ""))
    if k is None:
        raise ValueError("unknown kid")
    if not rs256_ok(k[0], k[1], f"{parts[0]}.{parts[1]}".encode(), b64(parts[2])):
        raise ValueError("bad signature")
    claims = json.loads(b64(parts[1]))
    now = time.time()
    if claims.get("aud") != APP_ID:
        raise ValueError(f"aud {claims.get('aud')!r}")
    if claims.get("iss") != ISSUER:
        raise ValueError(f"iss {claims.get('iss')!r}")
    if not now < claims.get("exp", 0):
        raise ValueError("expired")
    if claims["exp"] - claims.get("iat", 0) > 60:
        raise ValueError("lives longer than 60 s")
    return claims


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        received = {k: v for k, v in self.headers.items() if k.lower().startswith("x-vneid-")}
        token = self.headers.get("X-Vneid-Assertion", "")
        try:
            claims = verify(token)
        except Exception as e:  # noqa: BLE001 - any failure is a refusal
            self.answer(403, {"error": str(e), "received": received})
            return
        self.answer(
            200,
            {
                "sub": claims["sub"],
                "acr": claims.get("acr"),
                "name": claims.get("name"),
                "account": claims.get("account"),
                "path": self.path,
                "received": received,
                # The plain headers, decoded as the README says (percent-encoded UTF-8).
                "decoded": {k: urllib.parse.unquote(v) for k, v in received.items()
                            if k.lower() != "x-vneid-assertion"},
            },
        )

    do_POST = do_GET

    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args) -> None:
        sys.stderr.write(f"backend: {self.command} {self.path} -> {fmt % args}\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
