"""Test harness for the Authlib suite.

Starts a real ``gateway serve`` in a temp dir on a free port, and plays the browser through the
simulator's login pages (no redirects followed automatically, cookies kept). Nothing here is an
OpenID client: the relying-party side is Authlib (see test_rp.py).
"""

from __future__ import annotations

import atexit
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent

REDIRECT_URI = "http://127.0.0.1:9/cb"
POST_LOGOUT_REDIRECT_URI = "http://127.0.0.1:9/bye"
CLIENT_ID = "rp-python"
CLIENT_SECRET = "rp-python-secret-0123456789-abcdefghijkl"
PASSWORD = "matkhau123"
LEVEL2 = "052090000123"  # Nguyễn Văn An, citizen, VNeID level 2
LEVEL1 = "052195004567"  # Trần Thị Bình, citizen, level 1: refused

# API resources (RFC 8707) and token exchange (RFC 8693). The portals hold `hoso.read` of
# hoso-api and nothing of thanhtoan; the machine client holds all of hoso-api.
HOSO = "https://hoso.example.gov.vn/api"
PAY = "https://thanhtoan.example.gov.vn"
MACHINE_ID = "rp-machine"
MACHINE_SECRET = "rp-machine-secret-0123456789-abcdefghijk"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def gateway_bin() -> str:
    """GATEWAY_BIN (run.sh sets it), or the binary scripts/gateway-bin.sh builds from this
    checkout."""
    if not os.environ.get("GATEWAY_BIN"):
        os.environ["GATEWAY_BIN"] = subprocess.run(
            [str(REPO / "scripts" / "gateway-bin.sh")],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout.strip()
    binary = os.environ["GATEWAY_BIN"]
    if not os.path.exists(binary):
        raise RuntimeError(f"GATEWAY_BIN={binary} does not exist")
    return binary


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_list(items) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _client_toml(
    client_id: str,
    secret: str | None,
    auth_method: str | None,
    refresh: bool,
    resources: bool,
    jwks: dict | None = None,
    require_par: bool = False,
    dpop_bound: bool = False,
    profile: str | None = None,
) -> str:
    """One ``[[clients]]`` entry. ``secret``: None for a client without one (public,
    private_key_jwt); ``jwks``: the client's public keys; ``require_par``, ``dpop_bound``,
    ``profile``: the PAR / DPoP / FAPI 2.0 settings."""
    lines = ["[[clients]]", f'client_id = "{client_id}"']
    if secret:
        lines.append(f'client_secret = "{secret}"')
    if auth_method:
        lines.append(f'token_endpoint_auth_method = "{auth_method}"')
    if jwks:
        # JSON has no single quote: a TOML literal string holds it as is.
        lines.append(f"jwks = '{json.dumps(jwks, separators=(',', ':'))}'")
    if require_par:
        lines.append("require_pushed_authorization_requests = true")
    if dpop_bound:
        lines.append("dpop_bound_access_tokens = true")
    if profile:
        lines.append(f'profile = "{profile}"')
    scopes = ["openid", "profile", "personal_id", "offline_access"]
    if resources:
        scopes.append("hoso.read")
    lines += [
        f'redirect_uris = ["{REDIRECT_URI}"]',
        f'post_logout_redirect_uris = ["{POST_LOGOUT_REDIRECT_URI}"]',
        f"scopes = {_toml_list(scopes)}",
    ]
    grants = ["authorization_code"]
    if refresh:
        grants.append("refresh_token")
    if resources:
        grants.append(TOKEN_EXCHANGE)
    if len(grants) > 1:
        lines.append(f"grant_types = {_toml_list(grants)}")
    return "\n".join(lines)


_RESOURCES_TOML = "\n".join(
    [
        "[[resources]]",
        'id = "hoso-api"',
        f'audience = "{HOSO}"',
        'scopes = ["hoso.read", "hoso.write"]',
        "[[resources]]",
        'id = "thanhtoan"',
        f'audience = "{PAY}"',
        'scopes = ["pay"]',
        # A machine client (no person) calling hoso-api with client_credentials.
        "[[clients]]",
        f'client_id = "{MACHINE_ID}"',
        f'client_secret = "{MACHINE_SECRET}"',
        'grant_types = ["client_credentials"]',
        'scopes = ["hoso.read", "hoso.write"]',
    ]
)


def _config_toml(port: int, tmp: str, refresh: bool, resources: bool, clients=()) -> str:
    return "\n".join(
        [
            "[server]",
            f'bind = "127.0.0.1:{port}"',
            "[database]",
            f'url = "sqlite://{tmp}/g.db"',
            "[log]",
            'filter = "warn"',
            # A short grace window: a spent refresh token sent again later revokes the family.
            "[tokens]",
            'refresh_grace = "1s"',
            "[simulator]",
            "enabled = true",
            _client_toml(
                "rp-node", "rp-node-secret-0123456789-abcdefghijklmn", None, refresh, resources
            ),
            _client_toml(CLIENT_ID, CLIENT_SECRET, "client_secret_post", refresh, resources),
            *([_RESOURCES_TOML] if resources else []),
            # A suite's own clients (the FAPI suite's): the refresh grant as the feature set says.
            *(
                _client_toml(
                    c["id"],
                    c.get("secret"),
                    c.get("auth_method"),
                    refresh,
                    False,
                    c.get("jwks"),
                    c.get("require_par", False),
                    c.get("dpop_bound", False),
                    c.get("profile"),
                )
                for c in clients
            ),
            "",
        ]
    )


# The configurations tried, richest first (refresh, resources): the first one `check-config`
# accepts is served.
_FEATURE_SETS = [(True, True), (True, False), (False, False)]


@dataclass
class Gateway:
    url: str
    dir: str
    refresh_configured: bool
    resources_configured: bool
    config_rejected: str  # why check-config refused the richer configurations, if it did
    proc: subprocess.Popen
    log_path: str

    @property
    def issuer(self) -> str:
        return self.url

    def log(self) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not os.environ.get("KEEP_GATEWAY_DIR"):
            shutil.rmtree(self.dir, ignore_errors=True)


def start_gateway(clients=()) -> Gateway:
    """Starts ``gateway serve`` and waits for /healthz.

    The clients get the refresh_token grant, and the ``[[resources]]`` with the token-exchange
    grant and the machine client, only when this gateway build accepts them (``check-config``),
    so the same harness works before and after those features land; the tests of each decide on
    discovery (and fail when discovery has the feature but the configuration was refused:
    ``config_rejected`` says why). ``clients``: more ``[[clients]]`` a suite needs, dicts with
    ``id`` and optionally ``secret``, ``auth_method``, ``jwks``, ``require_par``, ``dpop_bound``,
    ``profile`` (each gets the refresh grant when the feature set has it).
    """
    binary = gateway_bin()
    last = None
    for _ in range(3):
        tmp = tempfile.mkdtemp(prefix="vneid-rp-python-")
        port = _free_port()
        cfg = os.path.join(tmp, "gateway.toml")
        rejected = []
        for refresh, resources in _FEATURE_SETS:
            Path(cfg).write_text(_config_toml(port, tmp, refresh, resources, clients))
            check = subprocess.run(
                [binary, "check-config", "--config", cfg], cwd=tmp, capture_output=True, text=True
            )
            if check.returncode == 0:
                break
            rejected.append(
                f"refresh={refresh} resources={resources}: {(check.stderr or check.stdout).strip()}"
            )
        log_path = os.path.join(tmp, "gateway.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [binary, "serve", "--config", cfg],
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        atexit.register(lambda p=proc: p.poll() is None and p.kill())
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"{url}/healthz", timeout=2).ok:
                    return Gateway(
                        url, tmp, refresh, resources, "\n".join(rejected), proc, log_path
                    )
            except requests.RequestException:
                pass
            time.sleep(0.1)
        gw = Gateway(url, tmp, refresh, resources, "\n".join(rejected), proc, log_path)
        last = RuntimeError(
            f"gateway did not become healthy on {url} (exit {proc.poll()}):\n{gw.log()}"
        )
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    raise last


# ---- a minimal browser: cookie jar, no automatic redirects -----------------------------------

_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'\b([a-zA-Z_:-]+)="([^"]*)"')


def hidden_inputs(fragment: str) -> dict[str, str]:
    out = {}
    for tag in _INPUT.findall(fragment):
        attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
        if attrs.get("type", "").lower() == "hidden" and "name" in attrs:
            out[attrs["name"]] = attrs.get("value", "")
    return out


@dataclass
class Back:
    """Where the browser is sent at the RP: the URL (never fetched) and the last status."""

    status: int
    url: str
    page: str | None = None


class Browser:
    def __init__(self, gateway_url: str):
        self.origin = gateway_url.rstrip("/")
        self.session = requests.Session()

    def request(self, method: str, url: str, **kw) -> requests.Response:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            raise AssertionError(f"the test browser only talks to the gateway, not {url}")
        r = self.session.request(method, url, allow_redirects=False, timeout=30, **kw)
        return r

    @staticmethod
    def location(r: requests.Response) -> str | None:
        loc = r.headers.get("location")
        return urljoin(r.url, loc) if loc else None

    def authorize(self, authorize_url: str) -> str:
        r = self.request("GET", authorize_url)
        loc = self.location(r)
        if r.status_code not in (302, 303) or not loc:
            raise AssertionError(f"/authorize answered {r.status_code}, not a redirect:\n{r.text[:2000]}")
        return loc

    def login(self, authorize_url: str, personal_id: str = LEVEL2) -> Back:
        """Plays the person: authorize → simulator login → OTP from the simulated phone →
        gateway callback. Returns where the browser goes at the RP's redirect_uri."""
        sim = self.authorize(authorize_url)
        assert sim.startswith(f"{self.origin}/simulator/oauth2/authorize?"), sim
        page = self.request("GET", sim)
        assert page.status_code == 200, page.status_code
        request = hidden_inputs(page.text).get("request")
        assert request, 'simulator login page has no hidden "request" input'
        otp_page = self.request(
            "POST",
            f"{self.origin}/simulator/login",
            data={"request": request, "personal_id": personal_id, "password": PASSWORD},
        )
        assert otp_page.status_code == 200 and 'name="otp"' in otp_page.text, otp_page.status_code
        messages = self.request("GET", f"{self.origin}/simulator/phone/messages").json()
        otp = next((m["otp"] for m in messages if m.get("request") == request), None)
        assert otp, f"no OTP on the simulated phone for request {request}"
        after = self.request(
            "POST", f"{self.origin}/simulator/otp", data={"request": request, "otp": otp}
        )
        loc = self.location(after)
        assert after.status_code in (302, 303) and loc, after.status_code
        assert loc.startswith(f"{self.origin}/login/vneid/callback?"), loc
        return self.back_to_rp(self.request("GET", loc))

    def back_to_rp(self, r: requests.Response, redirect_uri: str = REDIRECT_URI) -> Back:
        loc = self.location(r)
        if r.status_code in (302, 303) and loc:
            return Back(r.status_code, loc)
        # A refusal page: the person reads why; the link goes back to the portal.
        for href in re.findall(r'<a\b[^>]*\bhref="([^"]*)"', r.text, re.I):
            href = html.unescape(href)
            if href.startswith(f"{redirect_uri}?"):
                return Back(r.status_code, href, r.text)
        raise AssertionError(
            f"no way back to {redirect_uri} from a {r.status_code} response:\n{r.text[:2000]}"
        )
