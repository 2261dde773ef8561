// FAPI 2.0-style logins driven by openid-client: pushed authorization requests (RFC 9126),
// private_key_jwt client authentication (RFC 7523) and DPoP-bound tokens (RFC 9449), each done
// by the library — buildAuthorizationUrlWithPAR, PrivateKeyJwt, getDPoPHandle (it answers the
// gateway's `use_dpop_nonce` itself and retries), authorizationCodeGrant / fetchUserInfo /
// fetchProtectedResource / refreshTokenGrant with the DPoP handle, tokenIntrospection. The test
// only plays the person in the browser (harness.mjs) and checks what the gateway answered:
// access tokens as an API would (jose against the JWKS), `cnf.jkt` against the RFC 7638
// thumbprint of the DPoP key (jose's calculateJwkThumbprint).
//
// Clients (configured by the harness for this suite): `rp-fapi`, profile fapi2, private_key_jwt
// with an ES256 key generated here (its public JWK is the client's `jwks`), PAR required, DPoP
// required; `rp-public`, a public client (`none`) whose tokens are DPoP-bound.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import {
  calculateJwkThumbprint,
  createRemoteJWKSet,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose';
import * as client from 'openid-client';
import { Browser, REDIRECT_URI, startGateway } from './harness.mjs';

const require = createRequire(import.meta.url);
const versions = {
  'openid-client': require('openid-client/package.json').version,
  oauth4webapi: require('oauth4webapi/package.json').version,
  jose: require('jose/package.json').version,
  node: process.version,
};

const FAPI_ID = 'rp-fapi';
const PUBLIC_ID = 'rp-public';
const SCOPE = 'openid profile offline_access';

let gw;
let metadata;
let jwks; // the gateway's JWKS (remote set)
let clientKey; // rp-fapi's ES256 key pair: the private key signs its client assertions
let fapi; // openid-client Configuration of rp-fapi (private_key_jwt)
let pub; // openid-client Configuration of rp-public (none)

async function newClientKey() {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { privateKey, kid, jwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } };
}

/** Discovery for a client of this suite (http is only ever used on loopback here). */
async function discover(clientId, auth) {
  const c = await client.discovery(new URL(gw.issuer), clientId, undefined, auth, {
    execute: [client.allowInsecureRequests],
  });
  // Verify the ID token's signature from the token endpoint too (see rp.test.mjs).
  client.enableNonRepudiationChecks(c);
  return c;
}

/** A fresh DPoP key, as openid-client makes one, with its RFC 7638 thumbprint (jose). */
async function dpopKey(config) {
  const pair = await client.randomDPoPKeyPair('ES256');
  const jkt = await calculateJwkThumbprint(await exportJWK(pair.publicKey));
  return { handle: client.getDPoPHandle(config, pair), jkt };
}

/** An access token as an API checks it (RFC 9068): signature, typ, iss, exp; its claims. */
async function accessTokenClaims(token, audience) {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: gw.issuer,
    audience,
    typ: 'at+jwt',
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'],
  });
  assert.equal(protectedHeader.typ, 'at+jwt');
  return payload;
}

/** The authorization-request parameters a portal sends (PKCE S256, state, nonce). */
async function authParams(scope = SCOPE) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const checks = {
    pkceCodeVerifier: codeVerifier,
    expectedState: client.randomState(),
    expectedNonce: client.randomNonce(),
    idTokenExpected: true,
  };
  const params = {
    redirect_uri: REDIRECT_URI,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
  };
  return { params, checks };
}

/**
 * rp-fapi's login up to the callback: the request pushed by the library (private_key_jwt, a DPoP
 * proof of `dpop`'s key, which binds the code), the browser sent to /authorize with client_id
 * and request_uri only, the person logs in. Returns the callback URL and the library's checks.
 */
async function pushedLogin(dpop) {
  const { params, checks } = await authParams();
  const authUrl = await client.buildAuthorizationUrlWithPAR(fapi, params, { DPoP: dpop.handle });
  assert.deepEqual(
    [...authUrl.searchParams.keys()].sort(),
    ['client_id', 'request_uri'],
    `only client_id and request_uri in the browser's URL: ${authUrl}`,
  );
  assert.match(authUrl.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);
  const back = await new Browser(gw.url).login(authUrl.href);
  return { url: new URL(back.url), checks };
}

/**
 * rp-public's login: no PAR, `dpop_jkt` (RFC 9449 §10) in the library-built URL binds the code;
 * the code exchange proves `key`. Returns the library's token response.
 */
async function publicLogin(key) {
  const { params, checks } = await authParams();
  const authUrl = client.buildAuthorizationUrl(pub, {
    ...params,
    dpop_jkt: await key.handle.calculateThumbprint(),
  });
  assert.equal(authUrl.searchParams.get('dpop_jkt'), key.jkt);
  const back = await new Browser(gw.url).login(authUrl.href);
  const tokens = await client.authorizationCodeGrant(pub, new URL(back.url), checks, undefined, {
    DPoP: key.handle,
  });
  assert.equal(tokens.token_type, 'dpop');
  assert.ok(tokens.refresh_token, 'offline_access: a refresh token');
  assert.deepEqual((await accessTokenClaims(tokens.access_token, PUBLIC_ID)).cnf, { jkt: key.jkt });
  return tokens;
}

function bodyError(expected, why = /./) {
  return (err) => {
    assert.ok(err instanceof client.ResponseBodyError, `${err?.name}: ${err?.message}`);
    assert.equal(err.error, expected, `${err.error}: ${err.error_description}`);
    assert.match(err.error_description ?? '', why);
    return true;
  };
}

describe(`FAPI 2.0-style logins: openid-client ${versions['openid-client']} (PAR, private_key_jwt, DPoP)`, () => {
  before(async () => {
    clientKey = await newClientKey();
    gw = await startGateway({
      clients: [
        {
          id: FAPI_ID,
          authMethod: 'private_key_jwt',
          jwks: { keys: [clientKey.jwk] },
          requirePar: true,
          dpopBound: true,
          profile: 'fapi2',
        },
        { id: PUBLIC_ID, authMethod: 'none', dpopBound: true },
      ],
    });
    fapi = await discover(FAPI_ID, client.PrivateKeyJwt({ key: clientKey.privateKey, kid: clientKey.kid }));
    pub = await discover(PUBLIC_ID, client.None());
    metadata = fapi.serverMetadata();
    jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
  });
  after(async () => {
    await gw?.stop();
  });

  it('discovery: PAR endpoint, DPoP algorithms, private_key_jwt', () => {
    assert.equal(metadata.pushed_authorization_request_endpoint, `${gw.issuer}/par`);
    // Server-wide false: only some portals must push.
    assert.equal(metadata.require_pushed_authorization_requests, false);
    for (const alg of ['ES256', 'PS256', 'EdDSA']) {
      assert.ok(metadata.dpop_signing_alg_values_supported?.includes(alg), `DPoP ${alg}`);
    }
    assert.ok(metadata.token_endpoint_auth_methods_supported?.includes('private_key_jwt'));
    assert.ok(metadata.code_challenge_methods_supported?.includes('S256'));
    assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    assert.ok(gw.refreshConfigured, `the harness configuration was refused:\n${gw.configRejected}`);
  });

  it('a whole login: PAR + private_key_jwt + DPoP → bound tokens → userinfo by proof, not Bearer → refresh keeps the key → introspection', async () => {
    const dpop = await dpopKey(fapi);
    const { url, checks } = await pushedLogin(dpop);
    assert.equal(url.searchParams.get('state'), checks.expectedState);
    assert.equal(url.searchParams.get('iss'), gw.issuer, 'RFC 9207 iss in the authorization response');

    // The library checks state and iss, redeems the code with private_key_jwt and a proof of
    // the key the code is bound to, and validates the ID token.
    const tokens = await client.authorizationCodeGrant(fapi, url, checks, undefined, { DPoP: dpop.handle });
    assert.equal(tokens.token_type, 'dpop', 'token_type DPoP (the library lowercases it)');
    assert.ok(tokens.refresh_token, 'offline_access: a refresh token');
    const id = tokens.claims();
    assert.equal(id.iss, gw.issuer);
    assert.equal(id.aud === FAPI_ID || id.aud?.includes?.(FAPI_ID), true);
    assert.equal(id.acr, 'urn:vneid:loa:2');
    const at = await accessTokenClaims(tokens.access_token, FAPI_ID);
    assert.deepEqual(at.cnf, { jkt: dpop.jkt }, 'cnf.jkt = the RFC 7638 thumbprint of the DPoP key');
    assert.equal(at.sub, id.sub);
    assert.equal(at.client_id, FAPI_ID);

    // userinfo: the library sends `Authorization: DPoP` and a proof with ath (after the
    // gateway's use_dpop_nonce, which it answers itself).
    const info = await client.fetchUserInfo(fapi, tokens.access_token, id.sub, { DPoP: dpop.handle });
    assert.equal(info.sub, id.sub);
    assert.equal(info.name?.normalize('NFC'), 'Nguyễn Văn An'.normalize('NFC'));
    // The same through the library's generic protected-resource call.
    const res = await client.fetchProtectedResource(
      fapi,
      tokens.access_token,
      new URL(metadata.userinfo_endpoint),
      'GET',
      undefined,
      undefined,
      { DPoP: dpop.handle },
    );
    assert.equal(res.status, 200);
    assert.equal((await res.json()).sub, id.sub);

    // The bound token as a bearer token (the library without the DPoP handle): 401, a DPoP
    // challenge. A stolen copy of the token alone opens nothing.
    await assert.rejects(client.fetchUserInfo(fapi, tokens.access_token, id.sub), (err) => {
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, `${err?.name}: ${err?.message}`);
      assert.equal(err.status, 401);
      const challenge = err.response.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^DPoP\b/, challenge);
      assert.equal(err.cause?.[0]?.scheme, 'dpop');
      return true;
    });
    // And by hand, exactly as a script holding a copied token would send it.
    const bearer = await fetch(metadata.userinfo_endpoint, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    assert.equal(bearer.status, 401);
    assert.match(bearer.headers.get('www-authenticate') ?? '', /^DPoP\b/);

    // Refresh with the same key (rp-fapi is confidential: the new access token is bound to the
    // key of the refresh's proof, here the same one).
    const t1 = await client.refreshTokenGrant(fapi, tokens.refresh_token, undefined, { DPoP: dpop.handle });
    assert.equal(t1.token_type, 'dpop');
    assert.notEqual(t1.access_token, tokens.access_token);
    assert.ok(t1.refresh_token && t1.refresh_token !== tokens.refresh_token, 'rotation');
    const at1 = await accessTokenClaims(t1.access_token, FAPI_ID);
    assert.deepEqual(at1.cnf, { jkt: dpop.jkt }, 'the refreshed access token keeps the binding');
    assert.equal(at1.sub, id.sub);
    assert.equal((await client.fetchUserInfo(fapi, t1.access_token, id.sub, { DPoP: dpop.handle })).sub, id.sub);

    // Introspection, as the client (private_key_jwt by the library).
    const intro = await client.tokenIntrospection(fapi, t1.access_token);
    assert.equal(intro.active, true);
    assert.equal(intro.client_id, FAPI_ID);
    assert.equal(intro.sub, id.sub);
    assert.equal(intro.token_type, 'DPoP');
    assert.deepEqual(intro.cnf, { jkt: dpop.jkt });
  });

  it('rp-fapi without PAR: a plain /authorize is refused at the redirect URI (invalid_request)', async () => {
    const { params, checks } = await authParams();
    const authUrl = client.buildAuthorizationUrl(fapi, params);
    const back = await new Browser(gw.url).authorize(authUrl.href);
    assert.ok(back.startsWith(`${REDIRECT_URI}?`), `refused at once, back to the portal: ${back}`);
    await assert.rejects(client.authorizationCodeGrant(fapi, new URL(back), checks), (err) => {
      assert.ok(err instanceof client.AuthorizationResponseError, `${err?.name}: ${err?.message}`);
      assert.equal(err.error, 'invalid_request');
      assert.match(err.error_description ?? '', /pushed authorization request required/);
      return true;
    });
  });

  it('the code is bound to the key proved at /par: no proof → invalid_dpop_proof, another key → invalid_grant', async () => {
    const dpop = await dpopKey(fapi);
    const { url, checks } = await pushedLogin(dpop);
    // rp-fapi's tokens are always DPoP-bound: a token request without a proof is refused.
    await assert.rejects(
      client.authorizationCodeGrant(fapi, url, checks),
      bodyError('invalid_dpop_proof', /DPoP/),
    );
    const other = await dpopKey(fapi);
    await assert.rejects(
      client.authorizationCodeGrant(fapi, url, checks, undefined, { DPoP: other.handle }),
      bodyError('invalid_grant', /bound to another DPoP key/),
    );
  });

  it('FAPI 2.0 rules at /par: PKCE required; a DPoP proof by an RS256 key refused', async () => {
    const dpop = await dpopKey(fapi);
    const { params } = await authParams();
    const { code_challenge, code_challenge_method, ...noPkce } = params;
    await assert.rejects(
      client.buildAuthorizationUrlWithPAR(fapi, noPkce, { DPoP: dpop.handle }),
      bodyError('invalid_request', /PKCE/),
    );
    // RS256 is a DPoP algorithm the gateway takes, but not from a FAPI 2.0 client.
    const rsa = client.getDPoPHandle(fapi, await client.randomDPoPKeyPair('RS256'));
    await assert.rejects(
      client.buildAuthorizationUrlWithPAR(fapi, params, { DPoP: rsa }),
      bodyError('invalid_dpop_proof', /RS256/),
    );
  });

  it('private_key_jwt signed by a key rp-fapi never registered: /par answers invalid_client', async () => {
    const stranger = await newClientKey();
    const forged = new client.Configuration(
      metadata,
      FAPI_ID,
      undefined,
      client.PrivateKeyJwt({ key: stranger.privateKey, kid: clientKey.kid }),
    );
    client.allowInsecureRequests(forged);
    const dpop = await dpopKey(forged);
    const { params } = await authParams();
    let refusal;
    await assert.rejects(client.buildAuthorizationUrlWithPAR(forged, params, { DPoP: dpop.handle }), (err) => {
      refusal = err;
      return true;
    });
    // No `WWW-Authenticate: Basic` for a client that authenticated with an assertion (RFC 6749
    // §5.2 asks for the challenge only after an Authorization header): oauth4webapi would report
    // such a challenge (WWWAuthenticateChallengeError) instead of the body's error.
    assert.equal(refusal.status, 401, `${refusal?.name}: ${refusal?.message}`);
    assert.ok(refusal instanceof client.ResponseBodyError, `${refusal?.name}: ${refusal?.message}`);
    assert.equal(refusal.error, 'invalid_client');
    assert.match(refusal.error_description, /client assertion/);
  });

  it('a public client: the code and the refresh tokens are bound to its DPoP key; another key → invalid_grant, which spends nothing', async () => {
    const key = await dpopKey(pub);
    const tokens = await publicLogin(key);
    const sub = tokens.claims().sub;

    // A refresh proving another key: the refresh token is bound to the first token request's.
    const other = await dpopKey(pub);
    await assert.rejects(
      client.refreshTokenGrant(pub, tokens.refresh_token, undefined, { DPoP: other.handle }),
      bodyError('invalid_grant', /another DPoP key/),
    );
    // Refused before the rotation: the token still works with its own key.
    const t1 = await client.refreshTokenGrant(pub, tokens.refresh_token, undefined, { DPoP: key.handle });
    assert.ok(t1.refresh_token && t1.refresh_token !== tokens.refresh_token, 'rotation');
    assert.deepEqual((await accessTokenClaims(t1.access_token, PUBLIC_ID)).cnf, { jkt: key.jkt });
    assert.equal((await client.fetchUserInfo(pub, t1.access_token, sub, { DPoP: key.handle })).sub, sub);
    // The rotated token belongs to the same family: bound to the same key.
    await assert.rejects(
      client.refreshTokenGrant(pub, t1.refresh_token, undefined, { DPoP: other.handle }),
      bodyError('invalid_grant', /another DPoP key/),
    );
    // And without any proof at all (a client that is DPoP-bound).
    await assert.rejects(client.refreshTokenGrant(pub, t1.refresh_token), bodyError('invalid_dpop_proof'));
    const t2 = await client.refreshTokenGrant(pub, t1.refresh_token, undefined, { DPoP: key.handle });
    assert.deepEqual((await accessTokenClaims(t2.access_token, PUBLIC_ID)).cnf, { jkt: key.jkt });
  });

  it('a public client\'s refresh token is still bound to its key after a gateway restart (the binding is stored with the family)', async () => {
    const key = await dpopKey(pub);
    const tokens = await publicLogin(key);
    const sub = tokens.claims().sub;
    // Same database, master key and port; the in-memory store (nonces are derived from the
    // master key, proof jti's) starts empty.
    await gw.restart();
    const other = await dpopKey(pub);
    await assert.rejects(
      client.refreshTokenGrant(pub, tokens.refresh_token, undefined, { DPoP: other.handle }),
      bodyError('invalid_grant', /another DPoP key/),
    );
    const t1 = await client.refreshTokenGrant(pub, tokens.refresh_token, undefined, { DPoP: key.handle });
    assert.deepEqual((await accessTokenClaims(t1.access_token, PUBLIC_ID)).cnf, { jkt: key.jkt });
    assert.equal((await client.fetchUserInfo(pub, t1.access_token, sub, { DPoP: key.handle })).sub, sub);
  });
});
