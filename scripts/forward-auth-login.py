#!/usr/bin/env python3
"""Logs a simulator person in to a protected app through a running gateway, by the real
forward-auth flow ({prefix}/start → /authorize → the simulator's password and OTP pages →
the gateway's callback → {prefix}/callback), and prints the app session cookie's value.

  scripts/forward-auth-login.py APP_URL PREFIX APP_ID [personal_id]

APP_URL is the app's `url` as configured; this script sends the app's requests to it directly,
so use an app whose url is the gateway's own address (as scripts/bench-forward-auth.sh does) or
a proxy in front. Standard library only.
"""
import http.cookiejar
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def main() -> None:
    app, prefix, app_id = sys.argv[1:4]
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

    status, headers, _ = call(f"{app}{prefix}/start?rd=%2F")
    assert status == 302, status
    status, headers, _ = call(headers["Location"])  # /authorize
    assert status == 302, status
    upstream = headers["Location"]
    base = upstream.split("/oauth2/authorize")[0]
    status, _, page = call(upstream)
    request = re.search(r'name="request" value="([^"]+)"', page).group(1)
    call(f"{base}/login", {"request": request, "personal_id": who, "password": "matkhau123"})
    _, _, messages = call(f"{base}/phone/messages")
    otp = next(m["otp"] for m in json.loads(messages) if m["request"] == request)
    status, headers, _ = call(f"{base}/otp", {"request": request, "otp": otp})
    status, headers, _ = call(headers["Location"])  # the gateway's callback
    assert status == 302, status
    status, headers, _ = call(headers["Location"])  # the app's callback
    assert status == 302, status
    cookie = next((c.value for c in jar if c.name == f"vneid_app_{app_id}"), None)
    assert cookie, "no app session cookie"
    print(cookie)


if __name__ == "__main__":
    main()
