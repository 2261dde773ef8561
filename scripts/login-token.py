#!/usr/bin/env python3
"""Logs a simulator person in through a running gateway (embedded simulator, password + OTP)
as the portal CLIENT_ID/CLIENT_SECRET and prints the token response as JSON.

  scripts/login-token.py http://127.0.0.1:8080 portal portal-secret… [personal_id]

Standard library only (a cookie jar, no redirects followed), for benchmark scripts that need a
real person's access token. Redirect URI: http://127.0.0.1:9/cb (register it on the client).
"""
import base64
import hashlib
import http.cookiejar
import json
import re
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request

REDIRECT_URI = "http://127.0.0.1:9/cb"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def main() -> None:
    gw, client_id, secret = sys.argv[1:4]
    who = sys.argv[4] if len(sys.argv) > 4 else "052090000123"
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)

    def call(url, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            res = opener.open(urllib.request.Request(url, data=body))
            return res.status, res.headers, res.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode()

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
        "scope": "openid profile", "state": "s", "nonce": "n",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    status, headers, _ = call(f"{gw}/authorize?{query}")
    assert status == 302, status
    upstream = headers["Location"]
    base = upstream.split("/oauth2/authorize")[0]
    status, _, page = call(upstream)
    request = re.search(r'name="request" value="([^"]+)"', page).group(1)
    call(f"{base}/login", {"request": request, "personal_id": who, "password": "matkhau123"})
    _, _, messages = call(f"{base}/phone/messages")
    otp = next(m["otp"] for m in json.loads(messages) if m["request"] == request)
    status, headers, _ = call(f"{base}/otp", {"request": request, "otp": otp})
    status, headers, page = call(headers["Location"])
    assert status == 302, (status, page)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    req = urllib.request.Request(
        f"{gw}/token",
        data=urllib.parse.urlencode({
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier,
        }).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    print(urllib.request.urlopen(req).read().decode())


if __name__ == "__main__":
    main()
