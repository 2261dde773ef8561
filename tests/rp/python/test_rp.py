"""The gateway as an OpenID provider, driven by Authlib.

The relying party is Authlib's own OAuth 2.0 / OpenID Connect client app — ``OAuth2Mixin`` +
``OpenIDMixin`` over ``requests_client.OAuth2Session``, exactly what its Flask/Django/Starlette
integrations are made of, minus the web framework: discovery (``load_server_metadata``, checked
with ``authlib.oidc.discovery.OpenIDProviderMetadata``), authorization URL with PKCE S256 +
state + nonce, code exchange with client_secret_post, ID-token signature against the JWKS and
claims (``parse_id_token``: joserfc + ``authlib.oidc.core.CodeIDToken``), userinfo,
introspection and revocation (``OAuth2Session``), refresh, the end-session URL,
``client_credentials`` and token exchange (``OAuth2Session.fetch_token``). The callback
handling is the body of Authlib's ``FlaskOAuth2App.authorize_access_token`` with the request
parameters taken from the URL instead of Flask — plus the RFC 9207 ``iss`` check, which Authlib's
client does not do itself. Access tokens for an API (RFC 8707 resources) are checked as an API
built on Authlib would: its RFC 9068 resource-server validator (``JWTBearerTokenValidator``)
with the gateway's JWKS. The test only plays the person in the browser (harness.py).
"""

from __future__ import annotations

import html
import importlib.metadata
import re
import time
import unicodedata
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests
from authlib.integrations.base_client import (
    BaseApp,
    FrameworkIntegration,
    MismatchingStateError,
    OAuth2Mixin,
    OAuthError,
    OpenIDMixin,
)
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2 import rfc9207
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oidc import rpinitiated
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc.errors import BadSignatureError, InvalidClaimError
from joserfc.jwk import KeySet

from harness import (
    ACCESS_TOKEN_TYPE,
    CLIENT_ID,
    CLIENT_SECRET,
    HOSO,
    LEVEL1,
    LEVEL2,
    MACHINE_ID,
    MACHINE_SECRET,
    PAY,
    POST_LOGOUT_REDIRECT_URI,
    REDIRECT_URI,
    TOKEN_EXCHANGE,
    Browser,
    hidden_inputs,
    start_gateway,
)

VERSIONS = {
    name: importlib.metadata.version(name)
    for name in ("authlib", "joserfc", "requests", "cryptography", "pytest")
}
SCOPE = "openid profile personal_id"


def nfc(s):
    return unicodedata.normalize("NFC", s) if isinstance(s, str) else s


class _NoFramework(FrameworkIntegration):
    """State data lives in a dict the test holds (Flask keeps it in its session)."""

    def update_token(self, token, refresh_token=None, access_token=None):
        pass


class AuthlibRP(OAuth2Mixin, OpenIDMixin, BaseApp):
    client_cls = OAuth2Session

    def __init__(self, issuer: str):
        super().__init__(
            _NoFramework("gateway"),
            name="gateway",
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            server_metadata_url=f"{issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": SCOPE,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_post",
                "revocation_endpoint_auth_method": "client_secret_post",
            },
        )
        self.session_store: dict = {}  # the RP's per-browser session (cookie) in a real app

    # -- what authorize_redirect does in Authlib's framework integrations --
    def begin(self, **kwargs) -> dict:
        rv = self.create_authorization_url(redirect_uri=REDIRECT_URI, **kwargs)
        state = rv.pop("state")
        self.framework.set_state_data(self.session_store, state, {"redirect_uri": REDIRECT_URI, **rv})
        return {"state": state, **rv}

    # -- FlaskOAuth2App.authorize_access_token, request args from the callback URL --
    def authorize_access_token(self, callback_url: str, **kwargs) -> dict:
        args = dict(parse_qsl(urlsplit(callback_url).query, keep_blank_values=True))
        metadata = self.load_server_metadata()
        # RFC 9207 §2.4: check iss before anything else in the response, errors included.
        if metadata.get("authorization_response_iss_parameter_supported"):
            if "iss" not in args:
                raise OAuthError(error="invalid_request", description='Missing "iss" parameter')
            if args["iss"] != metadata["issuer"]:
                raise OAuthError(error="invalid_request", description='Mismatching "iss" parameter')
        error = args.get("error")
        if error:
            # The state of an error response must match too (Flask's version does not look).
            if self.framework.get_state_data(self.session_store, args.get("state")) is None:
                raise MismatchingStateError()
            self.framework.clear_state_data(self.session_store, args.get("state"))
            raise OAuthError(error=error, description=args.get("error_description"))
        params = {"code": args.get("code"), "state": args.get("state")}
        state_data = self.framework.get_state_data(self.session_store, params.get("state"))
        self.framework.clear_state_data(self.session_store, params.get("state"))
        params = self._format_state_params(state_data, params)
        token = self.fetch_access_token(**params)
        if "id_token" in token and "nonce" in state_data:
            token["userinfo"] = self.parse_id_token(
                token, nonce=state_data["nonce"], claims_options=self.claims_options()
            )
        return token

    def claims_options(self) -> dict:
        # Authlib's default checks only iss; ask it to check aud as well.
        return {
            "iss": {"essential": True, "value": self.load_server_metadata()["issuer"]},
            "aud": {"essential": True, "value": CLIENT_ID},
        }

    def oauth2_session(self) -> OAuth2Session:
        """A plain OAuth2Session for introspection, revocation and refresh."""
        return OAuth2Session(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            token_endpoint_auth_method="client_secret_post",
            revocation_endpoint_auth_method="client_secret_post",
        )


@pytest.fixture(scope="module")
def gw():
    print(f"versions: {VERSIONS}")
    g = start_gateway()
    yield g
    g.stop()


@pytest.fixture
def rp(gw):
    return AuthlibRP(gw.issuer)


@pytest.fixture
def metadata(rp):
    return {k: v for k, v in rp.load_server_metadata().items() if not k.startswith("_")}


def login(rp: AuthlibRP, gw, personal_id=LEVEL2, **auth_params):
    started = rp.begin(**auth_params)
    browser = Browser(gw.url)
    back = browser.login(started["url"], personal_id)
    return started, browser, back


def assert_citizen(claims, issuer):
    assert claims["iss"] == issuer
    assert claims["aud"] == CLIENT_ID or CLIENT_ID in claims["aud"]
    assert claims["acr"] == "urn:vneid:loa:2"
    assert claims["personal_id"] == "052090000123"
    assert nfc(claims["name"]) == nfc("Nguyễn Văn An")
    assert claims["birthdate"] == "1990-01-15"
    assert claims["idp"] == "vneid"
    assert claims["login_idp"] == "BCA"
    assert isinstance(claims["sub"], str) and claims["sub"] != "052090000123"


def test_discovery_metadata_validates(gw, metadata):
    m = OpenIDProviderMetadata(metadata)
    m.validate(
        metadata_classes=[rfc9207.AuthorizationServerMetadata, rpinitiated.OpenIDProviderMetadata]
    )
    assert m["issuer"] == gw.issuer
    assert metadata["authorization_response_iss_parameter_supported"] is True
    assert "S256" in metadata["code_challenge_methods_supported"]
    assert "client_secret_post" in metadata["token_endpoint_auth_methods_supported"]
    assert metadata["introspection_endpoint"] and metadata["revocation_endpoint"]


def test_login_pkce_state_nonce_client_secret_post(rp, gw):
    started, _, back = login(rp, gw)
    q = urlsplit(started["url"]).query
    sent = dict(parse_qsl(q))
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"]
    assert sent["nonce"] == started["nonce"] and sent["state"] == started["state"]
    token = rp.authorize_access_token(back.url)
    assert token["token_type"].lower() == "bearer"
    claims = token["userinfo"]  # the validated ID-token claims
    assert claims["nonce"] == started["nonce"]
    assert_citizen(claims, gw.issuer)


def test_callback_checks_state_and_iss(rp, gw):
    started, _, back = login(rp, gw)
    url = urlsplit(back.url)
    args = dict(parse_qsl(url.query))
    forged_iss = url._replace(query=f"code={args['code']}&state={args['state']}&iss=http%3A%2F%2F127.0.0.1%3A1").geturl()
    with pytest.raises(OAuthError, match="iss"):
        rp.authorize_access_token(forged_iss)
    no_iss = url._replace(query=f"code={args['code']}&state={args['state']}").geturl()
    with pytest.raises(OAuthError, match="iss"):
        rp.authorize_access_token(no_iss)
    wrong_state = url._replace(query=f"code={args['code']}&state=other&iss={args['iss']}").geturl()
    with pytest.raises(MismatchingStateError):
        rp.authorize_access_token(wrong_state)
    # The untouched response still works once.
    assert rp.authorize_access_token(back.url)["userinfo"]["sub"]


def test_id_token_wrong_nonce_and_bad_signature_rejected(rp, gw):
    # The library, not the test, compares the nonce and verifies the signature.
    _, _, back = login(rp, gw)
    code_and_state = dict(parse_qsl(urlsplit(back.url).query))
    state_data = rp.framework.get_state_data(rp.session_store, code_and_state["state"])
    token = rp.fetch_access_token(
        code=code_and_state["code"],
        redirect_uri=REDIRECT_URI,
        code_verifier=state_data["code_verifier"],
    )
    with pytest.raises(InvalidClaimError, match="nonce"):
        rp.parse_id_token(token, nonce="not-the-nonce", claims_options=rp.claims_options())
    h, p, s = token["id_token"].split(".")
    flipped = s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB")
    with pytest.raises(BadSignatureError):
        rp.parse_id_token(
            {**token, "id_token": f"{h}.{p}.{flipped}"},
            nonce=state_data["nonce"],
            claims_options=rp.claims_options(),
        )
    assert rp.parse_id_token(token, nonce=state_data["nonce"], claims_options=rp.claims_options())


def test_userinfo_same_sub(rp, gw):
    _, _, back = login(rp, gw)
    token = rp.authorize_access_token(back.url)
    info = rp.userinfo(token=token)
    assert info["sub"] == token["userinfo"]["sub"]
    assert info["personal_id"] == "052090000123"
    assert nfc(info["name"]) == nfc("Nguyễn Văn An")
    assert info["birthdate"] == "1990-01-15"


def test_introspection_revocation_then_userinfo_401(rp, gw, metadata):
    _, _, back = login(rp, gw)
    token = rp.authorize_access_token(back.url)
    sess = rp.oauth2_session()
    r = sess.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert r.status_code == 200, r.text
    before = r.json()
    assert before["active"] is True
    assert before["sub"] == token["userinfo"]["sub"]
    assert before["client_id"] == CLIENT_ID

    r = sess.revoke_token(
        metadata["revocation_endpoint"], token=token["access_token"], token_type_hint="access_token"
    )
    assert r.status_code == 200, r.text

    r = sess.introspect_token(metadata["introspection_endpoint"], token=token["access_token"])
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False

    with pytest.raises(requests.HTTPError) as e:
        rp.userinfo(token=token)
    assert e.value.response.status_code == 401
    assert e.value.response.headers.get("www-authenticate", "").lower().startswith("bearer")

    # Revoking again, or an unknown token, still succeeds (RFC 7009 §2.2).
    assert sess.revoke_token(metadata["revocation_endpoint"], token=token["access_token"]).status_code == 200
    assert sess.revoke_token(metadata["revocation_endpoint"], token="not-a-token").status_code == 200


def test_refusal_level1_access_denied(rp, gw):
    started, _, back = login(rp, gw, personal_id=LEVEL1, scope="openid profile")
    assert back.status == 403  # the person sees the refusal page
    args = dict(parse_qsl(urlsplit(back.url).query))
    assert args["state"] == started["state"]
    with pytest.raises(OAuthError) as e:
        rp.authorize_access_token(back.url)
    assert not isinstance(e.value, MismatchingStateError)
    assert e.value.error == "access_denied"
    assert (e.value.description or "").startswith("level_too_low")


def _needs_refresh(metadata, gw):
    if "refresh_token" not in metadata.get("grant_types_supported", []):
        pytest.skip('refresh tokens not implemented yet: discovery grant_types_supported lacks "refresh_token"')
    assert gw.refresh_configured, "discovery lists refresh_token but the config rejects it on a client"


def test_refresh_rotation(rp, gw, metadata):
    _needs_refresh(metadata, gw)
    _, _, back = login(rp, gw, scope=f"{SCOPE} offline_access")
    token = rp.authorize_access_token(back.url)
    sub = token["userinfo"]["sub"]
    rt0 = token.get("refresh_token")
    assert rt0, "a refresh token for scope offline_access"
    sess = rp.oauth2_session()
    t1 = dict(sess.refresh_token(metadata["token_endpoint"], refresh_token=rt0))
    assert t1["access_token"] and t1["access_token"] != token["access_token"]
    assert t1.get("refresh_token") and t1["refresh_token"] != rt0, "rotation: a new refresh token"
    if "id_token" in t1:
        claims = rp.parse_id_token(t1, nonce=None, claims_options=rp.claims_options())
        assert claims["sub"] == sub
    assert rp.userinfo(token=t1)["sub"] == sub
    t2 = dict(rp.oauth2_session().refresh_token(metadata["token_endpoint"], refresh_token=t1["refresh_token"]))
    assert t2["refresh_token"] not in (rt0, t1["refresh_token"])


def test_refresh_reuse_rejected(rp, gw, metadata):
    _needs_refresh(metadata, gw)
    _, _, back = login(rp, gw, scope="openid offline_access")
    rt0 = rp.authorize_access_token(back.url)["refresh_token"]
    t1 = dict(rp.oauth2_session().refresh_token(metadata["token_endpoint"], refresh_token=rt0))
    time.sleep(1.2)  # past the gateway's grace window (1 s here)
    with pytest.raises(OAuthError) as e:
        rp.oauth2_session().refresh_token(metadata["token_endpoint"], refresh_token=rt0)
    assert e.value.error == "invalid_grant"
    # DESIGN.md: refresh-token family rules — a replayed token revokes the family.
    with pytest.raises(OAuthError) as e:
        rp.oauth2_session().refresh_token(metadata["token_endpoint"], refresh_token=t1["refresh_token"])
    assert e.value.error == "invalid_grant"


def test_rp_initiated_logout(rp, gw, metadata):
    if not metadata.get("end_session_endpoint"):
        pytest.skip("RP-initiated logout not implemented yet: discovery lacks end_session_endpoint")
    _, browser, back = login(rp, gw)
    token = rp.authorize_access_token(back.url)

    def silent():
        started = rp.begin(prompt="none", scope="openid")
        return dict(parse_qsl(urlsplit(browser.authorize(started["url"])).query))

    assert "code" in silent(), "the SSO session answers prompt=none before logout"

    out = rp.create_logout_url(
        post_logout_redirect_uri=POST_LOGOUT_REDIRECT_URI, id_token_hint=token["id_token"]
    )
    assert out["url"].startswith(metadata["end_session_endpoint"])
    rp.framework.set_state_data(rp.session_store, out["state"], {"post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI})
    # Play the browser: follow the gateway's redirects, and confirm if it asks.
    r = browser.request("GET", out["url"])
    landed = None
    for _ in range(5):
        loc = browser.location(r)
        if r.status_code in (302, 303) and loc:
            if loc.startswith(POST_LOGOUT_REDIRECT_URI):
                landed = loc
                break
            r = browser.request("GET", loc)
            continue
        form = re.search(r'<form\b[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>', r.text, re.S | re.I)
        assert r.status_code == 200 and form, f"logout answered {r.status_code} with no redirect or form"
        r = browser.request("POST", urljoin(gw.url + "/", html.unescape(form.group(1))), data=hidden_inputs(form.group(2)))
    assert landed, "the browser ends at post_logout_redirect_uri"
    parts = urlsplit(landed)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == POST_LOGOUT_REDIRECT_URI
    # Authlib's validate_logout_response, with the state from the URL
    state = dict(parse_qsl(parts.query)).get("state")
    assert state == out["state"]
    assert rp.framework.get_state_data(rp.session_store, state) is not None
    rp.framework.clear_state_data(rp.session_store, state)

    assert silent().get("error") == "login_required", "the SSO session is gone after logout"


# ---- API resources (RFC 8707), client_credentials for an API, token exchange (RFC 8693) ------


class ApiTokenValidator(JWTBearerTokenValidator):
    """What an API built on Authlib's resource-server support runs on each request (RFC 9068
    JWT access tokens): signature against the gateway's JWKS, iss, exp, aud = its own audience,
    sub, client_id, iat, jti, the scopes it needs."""

    def __init__(self, rp: AuthlibRP, audience: str):
        super().__init__(issuer=rp.load_server_metadata()["issuer"], resource_server=audience)
        self.rp = rp

    def get_jwks(self):
        return KeySet.import_key_set(self.rp.fetch_jwk_set())


def verify_api_token(rp: AuthlibRP, token: str, audience: str, scopes=None):
    validator = ApiTokenValidator(rp, audience)
    claims = validator.authenticate_token(token)
    validator.validate_token(claims, scopes, None)
    # Authlib lets a token without `typ` through; RFC 9068 §2.1 wants at+jwt, the gateway sets it.
    assert claims.header.get("typ") == "at+jwt", claims.header
    assert claims["aud"] == audience, "one audience, a string"
    return claims


def _needs_resources(metadata, gw):
    if TOKEN_EXCHANGE not in metadata.get("grant_types_supported", []):
        pytest.skip("API resources not implemented yet: discovery grant_types_supported lacks token exchange")
    assert gw.resources_configured, (
        "discovery lists token exchange but check-config refused the [[resources]] "
        f"configuration:\n{gw.config_rejected}"
    )


def machine_session() -> OAuth2Session:
    """The machine client: no person, no browser; client_secret_basic (Authlib's default)."""
    return OAuth2Session(client_id=MACHINE_ID, client_secret=MACHINE_SECRET)


def test_resource_indicator_login_gives_the_apis_token(rp, gw, metadata):
    _needs_resources(metadata, gw)
    # `resource` in the authorization request (create_authorization_url's extra parameters);
    # the code exchange is the app's ordinary one: the grant keeps its resource.
    started, _, back = login(rp, gw, scope=f"{SCOPE} hoso.read", resource=HOSO)
    assert dict(parse_qsl(urlsplit(started["url"]).query))["resource"] == HOSO
    token = rp.authorize_access_token(back.url)
    assert token["scope"] == "hoso.read", "the token response names the access token's scopes"
    # The ID token was validated by Authlib for this client (signature, iss, aud, nonce), and
    # still carries what the person scopes release.
    claims = token["userinfo"]
    assert claims["nonce"] == started["nonce"]
    assert_citizen(claims, gw.issuer)
    at = verify_api_token(rp, token["access_token"], HOSO, ["hoso.read"])
    assert at["scope"] == "hoso.read", "only the resource's scopes"
    assert at["client_id"] == CLIENT_ID
    assert at["sub"] == claims["sub"] and at["acr"] == "urn:vneid:loa:2"
    # The API's token does not open userinfo: it is not the portal's.
    with pytest.raises(requests.HTTPError) as e:
        rp.userinfo(token=token)
    assert e.value.response.status_code == 401


def test_client_credentials_for_a_resource(rp, gw, metadata):
    _needs_resources(metadata, gw)
    # Authlib's client-credentials support: fetch_token with grant_type="client_credentials";
    # extra keyword arguments are token-request parameters.
    t = machine_session().fetch_token(
        metadata["token_endpoint"], grant_type="client_credentials", scope="hoso.read", resource=HOSO
    )
    assert t["token_type"] == "Bearer" and t["scope"] == "hoso.read"
    at = verify_api_token(rp, t["access_token"], HOSO, ["hoso.read"])
    assert at["sub"] == MACHINE_ID and at["client_id"] == MACHINE_ID
    assert at["scope"] == "hoso.read"
    # The resource alone: every scope of it the client holds.
    t = machine_session().fetch_token(
        metadata["token_endpoint"], grant_type="client_credentials", resource=HOSO
    )
    assert t["scope"] == "hoso.read hoso.write"
    verify_api_token(rp, t["access_token"], HOSO, ["hoso.read hoso.write"])
    # A scope of another resource.
    with pytest.raises(OAuthError) as e:
        machine_session().fetch_token(
            metadata["token_endpoint"], grant_type="client_credentials", scope="pay", resource=HOSO
        )
    assert e.value.error == "invalid_scope" and "another resource" in e.value.description


def _exchange(rp: AuthlibRP, subject_token: str, **params):
    # Authlib has no token-exchange client (authlib.oauth2.rfc8693 is an empty module): its
    # generic grant request is fetch_token with the grant type and the RFC 8693 parameters.
    return rp.oauth2_session().fetch_token(
        rp.load_server_metadata()["token_endpoint"],
        grant_type=TOKEN_EXCHANGE,
        subject_token=subject_token,
        subject_token_type=ACCESS_TOKEN_TYPE,
        **params,
    )


def test_token_exchange_acts_for_the_person_until_the_login_is_revoked(rp, gw, metadata):
    _needs_resources(metadata, gw)
    # A plain login (the portal's own token), with a refresh token to revoke the grant by.
    _, _, back = login(rp, gw, scope="openid profile offline_access")
    token = rp.authorize_access_token(back.url)
    person = token["userinfo"]
    assert token.get("refresh_token"), "a refresh token for scope offline_access"
    subject = verify_api_token(rp, token["access_token"], CLIENT_ID)  # the portal's own: aud = its id

    x = _exchange(rp, token["access_token"], resource=HOSO)
    assert x["issued_token_type"] == ACCESS_TOKEN_TYPE
    assert x["token_type"] == "Bearer"
    assert x["scope"] == "hoso.read"
    assert 0 < x["expires_in"] <= 300
    assert "refresh_token" not in x and "id_token" not in x
    claims = verify_api_token(rp, x["access_token"], HOSO, ["hoso.read"])
    assert claims["sub"] == person["sub"], "the person's sub, as in the ID token"
    assert claims["acr"] == person["acr"] == "urn:vneid:loa:2", "the person's level"
    assert claims["act"] == {"sub": CLIENT_ID}, "the portal acts"
    assert claims["exp"] <= subject["exp"], "never past the subject token"
    # `audience=` with the resource's id names the same API.
    by_id = _exchange(rp, token["access_token"], audience="hoso-api", scope="hoso.read")
    assert verify_api_token(rp, by_id["access_token"], HOSO)["act"]["sub"] == CLIENT_ID

    sess = rp.oauth2_session()
    r = sess.introspect_token(metadata["introspection_endpoint"], token=x["access_token"])
    assert r.status_code == 200, r.text
    live = r.json()
    assert live["active"] is True
    assert live["sub"] == person["sub"] and live["aud"] == HOSO and live["client_id"] == CLIENT_ID
    assert live["act"] == {"sub": CLIENT_ID}

    # Revoking the login's refresh token revokes its grant, and with it the exchanged token.
    r = sess.revoke_token(
        metadata["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token"
    )
    assert r.status_code == 200, r.text
    for t in (x["access_token"], token["access_token"]):
        r = sess.introspect_token(metadata["introspection_endpoint"], token=t)
        assert r.status_code == 200 and r.json()["active"] is False, r.text
    # And the revoked login's token cannot be exchanged any more.
    with pytest.raises(OAuthError) as e:
        _exchange(rp, token["access_token"], resource=HOSO)
    assert e.value.error == "invalid_request"


def test_resource_refusals(rp, gw, metadata):
    _needs_resources(metadata, gw)

    def authorization_error(scope, resource=None) -> OAuthError:
        # A list is sent as the parameter repeated (Authlib's prepare_grant_uri); the gateway
        # refuses before any login page and redirects the error to the portal, where the app's
        # callback handling checks iss and state and raises it.
        started = rp.begin(scope=scope, resource=resource)
        sent = [v for k, v in parse_qsl(urlsplit(started["url"]).query) if k == "resource"]
        assert sent == ([] if resource is None else [resource] if isinstance(resource, str) else resource)
        back = Browser(gw.url).authorize(started["url"])
        assert back.startswith(f"{REDIRECT_URI}?"), back
        with pytest.raises(OAuthError) as e:
            rp.authorize_access_token(back)
        assert not isinstance(e.value, MismatchingStateError)
        return e.value

    # (The descriptions are checked loosely: the error code alone would not tell why.)
    e = authorization_error("openid pay", HOSO)
    assert e.error == "invalid_scope" and "another resource" in e.description, e.description
    e = authorization_error("openid hoso.read")
    assert e.error == "invalid_scope", e.description
    assert "resource=" in (e.description or ""), "the description names the resource to ask for"
    e = authorization_error("openid", [HOSO, PAY])
    assert e.error == "invalid_target" and "one resource" in e.description, e.description
    e = authorization_error("openid", PAY)
    assert e.error == "invalid_target" and "may not call" in e.description, e.description

    # At /token: an exchange for an API the portal holds nothing of (by audience and by id).
    _, _, back = login(rp, gw, scope="openid")
    subject = rp.authorize_access_token(back.url)["access_token"]
    for params in ({"resource": PAY}, {"audience": "thanhtoan"}):
        with pytest.raises(OAuthError) as e:
            _exchange(rp, subject, **params)
        assert e.value.error == "invalid_target", params
        assert "may not call" in e.value.description, e.value.description
    # Two APIs at once, at /token: raw, because Authlib cannot send a token-request parameter
    # twice. fetch_token encodes a list value with bytes() (a TypeError), and even a repeated
    # field in its `body` argument is lost: OAuth2Client._fetch_token posts
    # data=dict(url_decode(body)), which keeps the last value only. (Two at /authorize, above,
    # went through Authlib.)
    r = requests.post(
        metadata["token_endpoint"],
        data=[
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
            ("resource", HOSO),
            ("resource", PAY),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_target" and "one resource" in r.json()["error_description"], r.text
    # The subject token is untouched by the refusals.
    ok = _exchange(rp, subject, resource=HOSO)
    assert verify_api_token(rp, ok["access_token"], HOSO)["act"]["sub"] == CLIENT_ID
