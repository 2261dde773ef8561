"""FAPI 2.0-style logins driven by Authlib: pushed authorization requests (RFC 9126),
private_key_jwt (RFC 7523) and DPoP-bound tokens (RFC 9449).

Authlib 1.9.10 has a part of this and the test uses it: ``PrivateKeyJWT``
(``authlib.oauth2.rfc7523``) as the client authentication of every request to the gateway, its
OAuth 2.0 / OpenID Connect app (``OAuth2Mixin`` + ``OpenIDMixin`` over
``requests_client.OAuth2Session``, as in test_rp.py) for the authorization request (PKCE S256,
state, nonce), the code exchange, refresh and introspection, its ID-token validation
(``parse_id_token``) and its RFC 9068 validator for access tokens. What Authlib lacks is built
here, on the same pieces:

- **PAR**: Authlib has no pushed-authorization-request client (no ``rfc9126``; its only
  mention of ``request_uri`` is the server side of OpenID Connect). The app takes the
  parameters of Authlib's own authorization URL and POSTs them to the PAR endpoint with
  Authlib's client authentication (``session.client_auth(...)`` as a ``requests`` auth).
- **DPoP**: Authlib has no DPoP client at all (its only mention of DPoP, in
  ``oauth2/drafts/id_jag.py``, says it "supports neither DPoP nor mTLS"); its ``TokenAuth``
  only knows ``token_type`` Bearer (a ``DPoP`` token raises ``UnsupportedTokenTypeError``).
  Proofs are JWTs signed here with joserfc (Authlib's own JOSE dependency); the
  ``DPoP-Nonce`` handed out by the gateway is read by an Authlib compliance hook
  (``access_token_response`` / ``refresh_token_response``) at the token endpoint and by a
  ``requests`` response hook at userinfo, and the request is sent again once on
  ``use_dpop_nonce``, as openid-client does by itself.
- **assertion lifetime**: ``PrivateKeyJWT`` signs assertions valid for 3600 s
  (``sign_jwt_bearer_assertion``'s default ``expires_in``) and has no option for it; the
  gateway accepts at most 600 s. Its ``claims`` option cannot fix it: the ``exp`` would be
  fixed once, and Authlib writes the ``jti`` it makes into that very dict, so every later
  assertion repeats it (both shown below). ``FapiPrivateKeyJWT`` passes ``expires_in=60`` to
  Authlib's own ``private_key_jwt_sign``.

Clients (configured by the harness for this module's gateway): ``rp-fapi`` (profile fapi2,
private_key_jwt with an ES256 key made here, PAR and DPoP required) and ``rp-public`` (a public
client, DPoP-bound). The test only plays the person in the browser (harness.py).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import secrets
import time
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.base_client import (
    BaseApp,
    FrameworkIntegration,
    MismatchingStateError,
    OAuth2Mixin,
    OAuthError,
    OpenIDMixin,
    UnsupportedTokenTypeError,
)
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.client import DEFAULT_HEADERS
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7523.assertion import private_key_jwt_sign
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from requests.auth import AuthBase

from harness import REDIRECT_URI, Browser, start_gateway

VERSIONS = {
    name: importlib.metadata.version(name)
    for name in ("authlib", "joserfc", "requests", "cryptography", "pytest")
}
FAPI_ID = "rp-fapi"
PUBLIC_ID = "rp-public"
SCOPE = "openid profile offline_access"

# rp-fapi's ES256 key: its public half is the client's `jwks` in the gateway's configuration.
CLIENT_KEY = ECKey.generate_key("P-256", private=True)
CLIENT_KID = CLIENT_KEY.thumbprint()


def nfc(s):
    return unicodedata.normalize("NFC", s) if isinstance(s, str) else s


def public_jwks(key: ECKey, kid: str) -> dict:
    return {"keys": [{**key.as_dict(private=False), "kid": kid, "alg": "ES256", "use": "sig"}]}


class FapiPrivateKeyJWT(PrivateKeyJWT):
    """Authlib's ``private_key_jwt`` with ES256 and a 60 s assertion: ``PrivateKeyJWT.sign`` with
    ``expires_in`` passed to Authlib's ``private_key_jwt_sign`` (Authlib's default, 3600 s, is
    refused: the gateway takes at most 600 s). The audience stays Authlib's: ``token_endpoint``
    if given, else the URL the request goes to."""

    alg = "ES256"

    def sign(self, auth, token_endpoint):
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            claims=dict(self.claims or {}),  # a copy: Authlib writes the jti into it
            header=self.headers,
            alg=self.alg,
            expires_in=60,
        )


# ---- DPoP: Authlib has none; proofs are signed with joserfc --------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def origin(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


class DPoPKey:
    """A DPoP key (ES256) and its proofs (RFC 9449 §4.2), with the server nonces it was handed
    (per origin, from ``DPoP-Nonce``)."""

    def __init__(self):
        self.key = ECKey.generate_key("P-256", private=True)
        self.jkt = self.key.thumbprint()  # RFC 7638, SHA-256
        self.nonces: dict[str, str] = {}

    def proof(self, method: str, url: str, access_token: str | None = None) -> str:
        p = urlsplit(url)
        claims = {
            "jti": secrets.token_urlsafe(24),
            "htm": method,
            "htu": f"{p.scheme}://{p.netloc}{p.path}",
            "iat": int(time.time()),
        }
        if nonce := self.nonces.get(origin(url)):
            claims["nonce"] = nonce
        if access_token:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode()).digest())
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jwt.encode(header, claims, self.key, algorithms=["ES256"])

    def record(self, resp: requests.Response) -> requests.Response:
        """Keeps the nonce of an answer (an Authlib compliance hook: returns the response)."""
        if nonce := resp.headers.get("DPoP-Nonce"):
            self.nonces[origin(resp.url)] = nonce
        return resp


def with_nonce_retry(send):
    """``send()`` once more when the token endpoint asks for a nonce (``use_dpop_nonce``, whose
    ``DPoP-Nonce`` the compliance hook has kept); ``send`` makes a fresh proof each time."""
    try:
        return send()
    except OAuthError as e:
        if e.error != "use_dpop_nonce":
            raise
        return send()


class DPoPAuth(AuthBase):
    """``Authorization: DPoP <token>`` and a proof of the request (``ath`` = the token's hash),
    sent again once on a 401 ``use_dpop_nonce`` (as ``requests``' digest auth answers its 401)."""

    def __init__(self, dpop: DPoPKey, access_token: str):
        self.dpop = dpop
        self.token = access_token

    def __call__(self, r):
        r.headers["Authorization"] = f"DPoP {self.token}"
        r.headers["DPoP"] = self.dpop.proof(r.method, r.url, self.token)
        r.register_hook("response", self._nonce)
        return r

    def _nonce(self, resp, **kwargs):
        self.dpop.record(resp)
        if resp.status_code != 401 or 'error="use_dpop_nonce"' not in resp.headers.get("WWW-Authenticate", ""):
            return resp
        resp.content  # noqa: B018 — consume the body so the connection can be reused
        resp.close()
        again = resp.request.copy()
        again.headers["DPoP"] = self.dpop.proof(again.method, again.url, self.token)
        retried = resp.connection.send(again, **kwargs)
        retried.history.append(resp)
        retried.request = again
        return self.dpop.record(retried)


# ---- the relying party: Authlib's app, with PAR and DPoP added --------------------------------


class _NoFramework(FrameworkIntegration):
    """State data lives in a dict the test holds (Flask keeps it in its session)."""

    def update_token(self, token, refresh_token=None, access_token=None):
        pass


class FapiRP(OAuth2Mixin, OpenIDMixin, BaseApp):
    client_cls = OAuth2Session

    def __init__(self, issuer: str, client_id=FAPI_ID, auth=None, dpop: DPoPKey | None = None):
        self.dpop = dpop or DPoPKey()
        public = client_id == PUBLIC_ID
        super().__init__(
            _NoFramework("gateway"),
            name="gateway",
            client_id=client_id,
            # Authlib's PrivateKeyJWT takes the private key as the "client secret".
            client_secret=None if public else CLIENT_KEY,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "none" if public else "private_key_jwt",
                "revocation_endpoint_auth_method": "none" if public else "private_key_jwt",
            },
            client_auth_methods=None if public else [auth or FapiPrivateKeyJWT(headers={"kid": CLIENT_KID})],
            # Every session the app makes keeps the DPoP nonces of the token endpoint's answers.
            compliance_fix=self._dpop_hooks,
        )
        self.session_store: dict = {}

    def _dpop_hooks(self, session: OAuth2Session):
        session.register_compliance_hook("access_token_response", self.dpop.record)
        session.register_compliance_hook("refresh_token_response", self.dpop.record)

    def metadata(self) -> dict:
        return self.load_server_metadata()

    def push(self, authorize_url: str) -> requests.Response:
        """RFC 9126: the parameters of Authlib's authorization URL, POSTed to the PAR endpoint
        with Authlib's client authentication and a DPoP proof (which binds the code to the key);
        once more with the nonce if the gateway asks for one."""
        endpoint = self.metadata()["pushed_authorization_request_endpoint"]
        params = dict(parse_qsl(urlsplit(authorize_url).query))
        if self.client_secret is None:
            del params["client_id"]  # Authlib's `none` client authentication adds it itself
        with self._get_oauth_client(**self.metadata()) as session:
            for _ in range(2):
                r = session.post(
                    endpoint,
                    data=params,
                    auth=session.client_auth(session.token_endpoint_auth_method),
                    headers={"DPoP": self.dpop.proof("POST", endpoint)},
                    withhold_token=True,
                    timeout=30,
                )
                self.dpop.record(r)
                if not (r.status_code == 400 and r.json().get("error") == "use_dpop_nonce"):
                    break
        return r

    def begin(self, pushed=True, **kwargs) -> dict:
        """What ``authorize_redirect`` does, with the request pushed first: the browser's URL
        carries ``client_id`` and ``request_uri`` only."""
        rv = self.create_authorization_url(redirect_uri=REDIRECT_URI, **kwargs)
        state = rv.pop("state")
        self.framework.set_state_data(self.session_store, state, {"redirect_uri": REDIRECT_URI, **rv})
        if pushed:
            r = self.push(rv["url"])
            assert r.status_code == 201, f"/par answered {r.status_code}: {r.text}"
            assert r.headers.get("Cache-Control") == "no-store"
            rv["pushed"] = r.json()
            rv["url"] = f"{self.metadata()['authorization_endpoint']}?" + urlencode(
                {"client_id": self.client_id, "request_uri": rv["pushed"]["request_uri"]}
            )
        return {"state": state, **rv}

    def authorize_access_token(self, callback_url: str) -> dict:
        """test_rp.py's callback handling (RFC 9207 iss, state), the code exchange with a DPoP
        proof of the token request, then Authlib's ID-token validation."""
        args = dict(parse_qsl(urlsplit(callback_url).query, keep_blank_values=True))
        metadata = self.metadata()
        if args.get("iss") != metadata["issuer"]:
            raise OAuthError(error="invalid_request", description='Missing or mismatching "iss"')
        if self.framework.get_state_data(self.session_store, args.get("state")) is None:
            raise MismatchingStateError()
        state_data = self.framework.get_state_data(self.session_store, args["state"])
        self.framework.clear_state_data(self.session_store, args["state"])
        if args.get("error"):
            raise OAuthError(error=args["error"], description=args.get("error_description"))
        params = self._format_state_params(state_data, {"code": args.get("code"), "state": args["state"]})
        token = with_nonce_retry(
            lambda: self.fetch_access_token(headers=self.dpop_headers(metadata["token_endpoint"]), **params)
        )
        token["userinfo"] = self.parse_id_token(
            token,
            nonce=state_data["nonce"],
            claims_options={
                "iss": {"essential": True, "value": metadata["issuer"]},
                "aud": {"essential": True, "value": self.client_id},
            },
        )
        return token

    def dpop_headers(self, url: str) -> dict:
        """Authlib's token-request headers plus a proof (``fetch_token(headers=…)`` replaces
        the defaults, so they are repeated)."""
        return {**DEFAULT_HEADERS, "DPoP": self.dpop.proof("POST", url)}

    def refresh(self, refresh_token: str, dpop: DPoPKey | None = None) -> dict:
        """Authlib's refresh (``OAuth2Session.refresh_token``) with a proof of ``dpop``'s key."""
        dpop = dpop or self.dpop
        url = self.metadata()["token_endpoint"]
        with self._get_oauth_client(**self.metadata()) as session:
            session.register_compliance_hook("refresh_token_response", dpop.record)
            return dict(
                with_nonce_retry(
                    lambda: session.refresh_token(
                        url,
                        refresh_token=refresh_token,
                        headers={**DEFAULT_HEADERS, "DPoP": dpop.proof("POST", url)},
                    )
                )
            )

    def userinfo_with_proof(self, access_token: str) -> requests.Response:
        return requests.get(
            self.metadata()["userinfo_endpoint"], auth=DPoPAuth(self.dpop, access_token), timeout=30
        )


@pytest.fixture(scope="module")
def gw():
    print(f"versions: {VERSIONS}")
    g = start_gateway(
        clients=[
            {
                "id": FAPI_ID,
                "auth_method": "private_key_jwt",
                "jwks": public_jwks(CLIENT_KEY, CLIENT_KID),
                "require_par": True,
                "dpop_bound": True,
                "profile": "fapi2",
            },
            {"id": PUBLIC_ID, "auth_method": "none", "dpop_bound": True},
        ]
    )
    yield g
    g.stop()


@pytest.fixture
def rp(gw):
    return FapiRP(gw.issuer)


def login(rp: FapiRP, gw, **kwargs):
    started = rp.begin(**kwargs)
    back = Browser(gw.url).login(started["url"])
    return started, back


def access_token_claims(rp: FapiRP, token: str):
    """The access token as an API built on Authlib checks it (RFC 9068 validator: signature
    against the gateway's JWKS, iss, exp, aud = the portal here)."""

    class Validator(JWTBearerTokenValidator):
        def get_jwks(self):
            return KeySet.import_key_set(rp.fetch_jwk_set())

    v = Validator(issuer=rp.metadata()["issuer"], resource_server=rp.client_id)
    claims = v.authenticate_token(token)
    v.validate_token(claims, None, None)
    assert claims.header.get("typ") == "at+jwt", claims.header
    return claims


def test_discovery_par_dpop_private_key_jwt(gw, rp):
    m = rp.metadata()
    assert m["pushed_authorization_request_endpoint"] == f"{gw.issuer}/par"
    assert m["require_pushed_authorization_requests"] is False  # server-wide; per client here
    assert {"ES256", "PS256", "EdDSA"} <= set(m["dpop_signing_alg_values_supported"])
    assert "private_key_jwt" in m["token_endpoint_auth_methods_supported"]
    assert gw.refresh_configured, f"the harness configuration was refused:\n{gw.config_rejected}"


def test_login_par_private_key_jwt_dpop_then_userinfo_refresh_introspection(gw, rp):
    started, back = login(rp, gw)
    sent = dict(parse_qsl(urlsplit(started["url"]).query))
    assert sorted(sent) == ["client_id", "request_uri"], "the browser's URL names the pushed request only"
    assert sent["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
    assert 0 < started["pushed"]["expires_in"] <= 60
    cb = dict(parse_qsl(urlsplit(back.url).query))
    assert cb["state"] == started["state"] and cb["iss"] == gw.issuer

    token = rp.authorize_access_token(back.url)
    assert token["token_type"] == "DPoP"
    claims = token["userinfo"]  # the ID token, validated by Authlib (signature, iss, aud, nonce)
    assert claims["nonce"] == started["nonce"]
    assert claims["acr"] == "urn:vneid:loa:2"
    at = access_token_claims(rp, token["access_token"])
    assert at["cnf"] == {"jkt": rp.dpop.jkt}, "bound to the DPoP key (RFC 7638 thumbprint)"
    assert at["sub"] == claims["sub"] and at["client_id"] == FAPI_ID

    # userinfo with a proof of the key. The nonce the token endpoint handed out would do here
    # too (one per server and time window); forgotten, to go through userinfo's own
    # 401 use_dpop_nonce and the retry.
    rp.dpop.nonces.clear()
    r = rp.userinfo_with_proof(token["access_token"])
    assert r.status_code == 200, r.text
    assert r.json()["sub"] == claims["sub"]
    assert nfc(r.json()["name"]) == nfc("Nguyễn Văn An")
    assert [h.status_code for h in r.history] == [401], "one nonce round trip"
    assert 'error="use_dpop_nonce"' in r.history[0].headers["WWW-Authenticate"]
    # Authlib's own userinfo cannot send a DPoP token: its TokenAuth knows Bearer only.
    with pytest.raises(UnsupportedTokenTypeError):
        rp.userinfo(token=token)
    # The bound token as a bearer token: refused, with a DPoP challenge.
    r = requests.get(
        rp.metadata()["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    )
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("DPoP"), r.headers["WWW-Authenticate"]

    # Refresh by Authlib with a proof of the same key: the new access token keeps the binding.
    t1 = rp.refresh(token["refresh_token"])
    assert t1["token_type"] == "DPoP"
    assert t1["refresh_token"] != token["refresh_token"], "rotation"
    assert access_token_claims(rp, t1["access_token"])["cnf"] == {"jkt": rp.dpop.jkt}
    assert rp.userinfo_with_proof(t1["access_token"]).json()["sub"] == claims["sub"]

    # Introspection by Authlib, as the client, with Authlib's default assertion audience: the
    # URL it posts to (the gateway takes the issuer and every endpoint that authenticates
    # clients).
    with rp._get_oauth_client(**rp.metadata()) as session:
        r = session.introspect_token(
            rp.metadata()["introspection_endpoint"],
            token=t1["access_token"],
            auth=session.client_auth(FapiPrivateKeyJWT(None, headers={"kid": CLIENT_KID})),
        )
    assert r.status_code == 200, r.text
    intro = r.json()
    assert intro["active"] is True and intro["client_id"] == FAPI_ID and intro["sub"] == claims["sub"]
    assert intro["token_type"] == "DPoP"
    assert intro["cnf"] == {"jkt": rp.dpop.jkt}


def test_plain_authorize_refused_for_a_par_client(gw, rp):
    started = rp.begin(pushed=False)
    back = Browser(gw.url).authorize(started["url"])
    assert back.startswith(f"{REDIRECT_URI}?"), back
    with pytest.raises(OAuthError) as e:
        rp.authorize_access_token(back)
    assert not isinstance(e.value, MismatchingStateError)
    assert e.value.error == "invalid_request"
    assert "pushed authorization request required" in (e.value.description or "")


def test_authlib_default_assertion_lifetime_is_refused(gw):
    # Authlib's PrivateKeyJWT as it comes (ES256, the key, nothing else): exp = iat + 3600.
    rp = FapiRP(gw.issuer, auth=PrivateKeyJWT(alg="ES256", headers={"kid": CLIENT_KID}))
    r = rp.push(rp.create_authorization_url(redirect_uri=REDIRECT_URI)["url"])
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    assert "exp is too far in the future" in r.json()["error_description"], r.text


def test_authlib_claims_option_repeats_the_jti(gw):
    # PrivateKeyJWT(claims=…) for a shorter exp: Authlib stores the jti it makes in that dict,
    # so the second assertion carries the first one's jti, and the gateway refuses the replay.
    claims = {"exp": int(time.time()) + 120}
    rp = FapiRP(gw.issuer, auth=PrivateKeyJWT(alg="ES256", claims=claims, headers={"kid": CLIENT_KID}))
    first = rp.push(rp.create_authorization_url(redirect_uri=REDIRECT_URI)["url"])
    assert first.status_code == 201, first.text
    assert "jti" in claims, "Authlib wrote its jti into the caller's dict"
    again = rp.push(rp.create_authorization_url(redirect_uri=REDIRECT_URI)["url"])
    assert again.status_code == 401, again.text
    assert again.json()["error"] == "invalid_client"
    assert "jti was used before" in again.json()["error_description"], again.text


def test_code_bound_at_par_needs_that_key(gw, rp):
    _, back = login(rp, gw)
    # A token request proving another key: the code was bound to the /par proof's key.
    other = FapiRP(gw.issuer)
    other.session_store = rp.session_store
    with pytest.raises(OAuthError) as e:
        other.authorize_access_token(back.url)
    assert e.value.error == "invalid_grant", e.value.description
    assert "bound to another DPoP key" in e.value.description


def test_public_client_refresh_bound_to_its_dpop_key(gw):
    # A public client pushes too (client_id, no authentication; PKCE), with a proof at /par.
    rp = FapiRP(gw.issuer, client_id=PUBLIC_ID)
    started, back = login(rp, gw)
    token = rp.authorize_access_token(back.url)
    assert token["token_type"] == "DPoP"
    assert access_token_claims(rp, token["access_token"])["cnf"] == {"jkt": rp.dpop.jkt}
    # A refresh proving another key: refused, and nothing spent.
    with pytest.raises(OAuthError) as e:
        rp.refresh(token["refresh_token"], dpop=DPoPKey())
    assert e.value.error == "invalid_grant", e.value.description
    assert "another DPoP key" in (e.value.description or "")
    t1 = rp.refresh(token["refresh_token"])
    assert t1["refresh_token"] != token["refresh_token"]
    assert access_token_claims(rp, t1["access_token"])["cnf"] == {"jkt": rp.dpop.jkt}
    with pytest.raises(OAuthError) as e:
        rp.refresh(t1["refresh_token"], dpop=DPoPKey())
    assert e.value.error == "invalid_grant", e.value.description
