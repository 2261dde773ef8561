#!/usr/bin/env python3
"""Forward-auth end to end with a real nginx (run by run.sh): standard library only.

Starts the gateway binary (the simulator as the national broker, one protected app whose url is
nginx's address), backend.py (a legacy app that verifies the assertion against the JWKS), and
nginx (nginx.conf.in: auth_request to the gateway's /.vneid/auth, 401 sent to the login). Then
plays browsers with a cookie jar that follow no redirect by themselves:

1. unauthenticated → sent to the login → the simulator's level-2 person logs in → back at the
   page asked for (its query intact) → the backend answers with the verified sub and claims;
2. a client-sent X-Vneid-Sub or X-Vneid-Assertion never reaches the backend;
3. the app callback replayed is refused; an rd to another origin is refused;
4. a level-1 person never reaches the backend (the gateway's refusal page);
5. logout by GET from another site asks first; logout by POST from the app's page ends the
   session (401 again), and SSO brings the person back without the broker;
6. logout with sso=1 ends the gateway's session too: the next login goes to the broker.

    drive.py GATEWAY_BIN
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP_ID = "motcua-legacy"
PASSWORD = "matkhau123"
LEVEL2 = "052090000123"  # Nguyễn Văn An, citizen, VNeID level 2
LEVEL1 = "052195004567"  # Trần Thị Bình, citizen, level 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self) -> None:
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )

    def go(self, url: str, data: dict | None = None, headers: dict | None = None,
           method: str | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        def headers(m) -> dict:
            out = {k.lower(): v for k, v in m.items()}
            out["set-cookie"] = "\n".join(m.get_all("Set-Cookie") or [])
            return out

        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, headers(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, headers(e.headers), e.read().decode()

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def hidden(page: str, name: str) -> str:
    m = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*value="([^"]*)"', page)
    assert m, f"no hidden {name} in:\n{page[:3000]}"
    return html.unescape(m.group(1))


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)
    print(f"  ok: {what}")


class World:
    def __init__(self, gateway_bin: str) -> None:
        self.tmp = tempfile.mkdtemp(prefix="vneid-forward-auth-")
        self.procs: list[subprocess.Popen] = []
        self.gw_port, self.app_port, self.backend_port = free_port(), free_port(), free_port()
        self.gw = f"http://127.0.0.1:{self.gw_port}"
        self.app = f"http://127.0.0.1:{self.app_port}"
        cfg = Path(self.tmp, "gateway.toml")
        cfg.write_text(
            f"""[server]
bind = "127.0.0.1:{self.gw_port}"
[database]
url = "sqlite://{self.tmp}/gateway.db"
[log]
filter = "warn"
[simulator]
enabled = true
[[protected_apps]]
id = "{APP_ID}"
name = "Hệ thống Một cửa (cũ)"
url = "{self.app}"
path_prefix = "/.vneid"
min_level = 2
claims = ["name", "birthdate", "account"]
session_ttl = "8h"
"""
        )
        check = subprocess.run([gateway_bin, "check-config", "--config", str(cfg)],
                               capture_output=True, text=True, cwd=self.tmp)
        print(check.stdout.strip())
        assert check.returncode == 0, check.stderr
        self.spawn([gateway_bin, "serve", "--config", str(cfg)], "gateway.log")
        self.spawn([sys.executable, str(HERE / "backend.py"), str(self.backend_port), self.gw,
                    APP_ID], "backend.log")
        conf = (HERE / "nginx.conf.in").read_text()
        for k, v in {"@TMP@": self.tmp, "@PORT@": str(self.app_port),
                     "@GATEWAY@": f"127.0.0.1:{self.gw_port}",
                     "@BACKEND@": f"127.0.0.1:{self.backend_port}"}.items():
            conf = conf.replace(k, v)
        Path(self.tmp, "nginx.conf").write_text(conf)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.spawn([nginx, "-p", self.tmp, "-c", f"{self.tmp}/nginx.conf", "-e",
                    f"{self.tmp}/error.log"], "nginx.log")
        self.wait(f"{self.gw}/healthz")
        self.wait(f"http://127.0.0.1:{self.backend_port}/")
        self.wait(f"{self.app}/.vneid/logout")

    def spawn(self, argv: list[str], log: str) -> None:
        out = open(Path(self.tmp, log), "wb")
        self.procs.append(subprocess.Popen(argv, cwd=self.tmp, stdout=out, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL))

    def wait(self, url: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{p.args[0]} exited {p.returncode}\n{self.logs()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{url} never answered\n{self.logs()}")

    def logs(self) -> str:
        out = []
        for name in ("gateway.log", "backend.log", "nginx.log", "error.log"):
            p = Path(self.tmp, name)
            if p.exists():
                out.append(f"--- {name}\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(out)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not os.environ.get("KEEP_FORWARD_AUTH_DIR"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the person at the simulator -------------------------------------------------------

    def broker_login(self, b: Browser, sim_url: str, who: str) -> str:
        """From the simulator's authorize URL to the gateway's callback URL."""
        status, _, page = b.go(sim_url)
        assert status == 200, status
        request = hidden(page, "request")
        status, _, page = b.go(f"{self.gw}/simulator/login",
                               {"request": request, "personal_id": who, "password": PASSWORD})
        assert 'name="otp"' in page, page[:2000]
        _, _, messages = b.go(f"{self.gw}/simulator/phone/messages")
        otp = next(m["otp"] for m in json.loads(messages) if m.get("request") == request)
        status, h, _ = b.go(f"{self.gw}/simulator/otp", {"request": request, "otp": otp})
        assert status in (302, 303), status
        return h["location"]

    def to_login(self, b: Browser, path: str) -> str:
        """Asks the app for `path` without a session: returns the app's login URL nginx sent."""
        status, h, _ = b.go(f"{self.app}{path}")
        expect(status == 302 and "/.vneid/start?rd=" in h.get("location", ""),
               f"GET {path} without a session → 302 to the app's login ({h.get('location')})")
        return h["location"]

    def login(self, b: Browser, path: str, who: str) -> tuple[int, dict, str]:
        """The whole login from the app's page to the answer at the app's callback."""
        start = self.to_login(b, path)
        status, h, _ = b.go(start)
        assert status == 302 and h["location"].startswith(f"{self.gw}/authorize?"), (status, h)
        status, h, _ = b.go(h["location"])
        assert status == 302, status
        loc = h["location"]
        if loc.startswith(f"{self.gw}/simulator/"):
            loc = self.broker_login(b, loc, who)
            status, h, page = b.go(loc)
            if status != 302:
                return status, h, page
            loc = h["location"]
        expect(loc.startswith(f"{self.app}/.vneid/callback?"), "the gateway sends the code to the app's callback")
        self.last_callback = loc
        return b.go(loc)


def run(world: World) -> None:
    app = world.app
    print("1. login through nginx")
    b = Browser()
    status, h, _ = world.login(b, "/hoso/xem?id=12&tab=a b".replace(" ", "%20"), LEVEL2)
    expect(status == 302 and h["location"] == f"{app}/hoso/xem?id=12&tab=a%20b",
           f"the callback goes back to the page asked for ({h.get('location')})")
    cookie = b.cookie(f"vneid_app_{APP_ID}")
    expect(cookie is not None, "the app session cookie is set on the app's host")
    set_cookie = next(c for c in h["set-cookie"].split("\n") if c.startswith(f"vneid_app_{APP_ID}="))
    attrs = [a.strip() for a in set_cookie.split(";")]
    expect("HttpOnly" in attrs and "SameSite=Lax" in attrs and "Path=/" in attrs
           and "Max-Age=28800" in attrs and "Secure" not in attrs,
           "the cookie is HttpOnly, SameSite=Lax, Path=/, 8 h, not Secure on loopback http")
    status, _, body = b.go(h["location"])
    who = json.loads(body)
    expect(status == 200 and who["sub"] and who["acr"] == "urn:vneid:loa:2",
           f"the backend verified the assertion: sub {who.get('sub')}, acr {who.get('acr')}")
    expect(who["name"] == "Nguyễn Văn An" and who["decoded"].get("X-Vneid-Name") == "Nguyễn Văn An",
           "the name arrives in the assertion and percent-encoded in X-Vneid-Name")
    expect(who["decoded"].get("X-Vneid-Sub") == who["sub"], "X-Vneid-Sub is the assertion's sub")
    expect("X-Vneid-Personal-Id" not in who["received"], "personal_id is not sent: the app did not list it")

    status, _, body = b.go(f"{app}/hoso/luu", {"a": "1"})
    expect(status == 200 and json.loads(body)["sub"] == who["sub"],
           "a POST to the app is checked and passed on too")
    status, _, body = b.go(f"{app}/", headers={"Host": f"localhost:{world.app_port}"})
    expect(status == 200 and json.loads(body)["sub"] == who["sub"],
           "another Host sent to this server block still asks about this app only")

    print("2. spoofed headers")
    status, _, body = b.go(f"{app}/", headers={"X-Vneid-Sub": "attacker", "X-Vneid-Level": "2",
                                               "X-Vneid-Personal-Id": "001099000001"})
    got = json.loads(body)
    expect(status == 200 and got["received"].get("X-Vneid-Sub") == who["sub"]
           and "X-Vneid-Personal-Id" not in got["received"],
           "a client-sent X-Vneid-Sub or X-Vneid-Personal-Id never reaches the backend")
    anon = Browser()
    status, h, _ = anon.go(f"{app}/", headers={"X-Vneid-Sub": "attacker",
                                               "X-Vneid-Assertion": "e30.e30.x"})
    expect(status == 302 and "/.vneid/start" in h.get("location", ""),
           "without a session, spoofed headers get the login, not the backend")
    status, _, _ = anon.go(f"{app}/.vneid/auth")
    expect(status == 404, "/.vneid/auth is nginx's alone (internal)")

    print("3. replay and open redirects")
    status, _, page = Browser().go(world.last_callback)
    expect(status == 400 and "Phiên đăng nhập" in page, "the app callback replayed (another browser) is refused")
    status, _, page = b.go(world.last_callback)
    expect(status == 400, "the app callback replayed in the same browser is refused")
    for rd in ["//evil.example/", "https://evil.example/", "/\\evil.example", "http:evil.example"]:
        status, h, page = anon.go(f"{app}/.vneid/start?rd={urllib.parse.quote(rd, safe='')}")
        expect(status == 400 and "Địa chỉ quay lại không hợp lệ" in page and "location" not in h,
               f"rd={rd} is refused with the Vietnamese 400 page")

    print("4. a level-1 person")
    low = Browser()
    status, _, page = world.login(low, "/", LEVEL1)
    expect(status == 403 and "Không thể đăng nhập" in page, "the gateway's refusal page (level 2 required)")
    expect(low.cookie(f"vneid_app_{APP_ID}") is None, "no app session")
    status, h, _ = low.go(f"{app}/")
    expect(status == 302, "the level-1 person never reaches the backend")

    print("5. logout")
    status, _, page = b.go(f"{app}/.vneid/logout")
    expect(status == 200 and "Bạn có muốn đăng xuất" in page,
           "GET /.vneid/logout without Sec-Fetch-Site: same-origin asks first")
    status, _, body = b.go(f"{app}/")
    expect(status == 200, "… and the session is still there")
    status, h, page = b.go(f"{app}/.vneid/logout", {}, headers={"Origin": "https://evil.example"})
    expect(status == 200 and "Bạn có muốn đăng xuất" in page, "a cross-site POST only gets the question")
    status, h, page = b.go(f"{app}/.vneid/logout", {}, headers={"Origin": app})
    expect(status == 200 and "Bạn đã đăng xuất" in page, "a POST from the app's page logs out")
    expect(b.cookie(f"vneid_app_{APP_ID}") is None, "the app cookie is removed")
    start = world.to_login(b, "/after")
    status, h, _ = b.go(start)
    status, h, _ = b.go(h["location"])
    expect(h["location"].startswith(f"{app}/.vneid/callback?"),
           "the gateway's SSO session still stands: a code without the broker")
    status, h, _ = b.go(h["location"])
    expect(status == 302 and h["location"] == f"{app}/after", "back at the app")

    print("6. logout with sso=1")
    status, _, page = b.go(f"{app}/.vneid/logout?sso=1")
    csrf = hidden(page, "csrf")
    status, h, _ = b.go(f"{app}/.vneid/logout", {"csrf": csrf, "sso": "1"})
    expect(status == 303 and h["location"].startswith(f"{world.gw}/logout?id_token_hint="),
           "the confirmation form ends the app session and sends the browser to the gateway's logout")
    status, h, _ = b.go(h["location"])
    expect(status == 302 and h["location"] == f"{app}/.vneid/logout",
           "the gateway ends its session without asking again, and comes back to the app")
    status, _, page = b.go(h["location"])
    expect(status == 200 and "Bạn đã đăng xuất" in page, "the app says the person is logged out")
    start = world.to_login(b, "/")
    status, h, _ = b.go(start)
    status, h, _ = b.go(h["location"])
    expect(h["location"].startswith(f"{world.gw}/simulator/"), "the next login goes to the broker again")

    status, _, metrics = Browser().go(f"{world.gw}/metrics")
    allowed = re.search(rf'vneid_forward_auth_total{{app="{APP_ID}",result="allowed"}} (\d+)', metrics)
    expect(allowed is not None and int(allowed.group(1)) >= 3, f"metrics count /auth answers ({allowed and allowed.group(0)})")


def main() -> int:
    world = World(sys.argv[1])
    try:
        run(world)
        print("forward-auth with nginx: all checks passed")
        return 0
    except Exception:
        print(world.logs(), file=sys.stderr)
        raise
    finally:
        world.stop()


if __name__ == "__main__":
    sys.exit(main())
