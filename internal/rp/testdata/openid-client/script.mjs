// Drives panva's openid-client (an OpenID-certified relying party) against a
// running Latchkey server. Run by TestOpenIDClientFromNPM in internal/rp.
//
// Environment: LATCHKEY_ISSUER, LATCHKEY_CLIENT_ID, LATCHKEY_CLIENT_SECRET,
// LATCHKEY_REDIRECT_URI.
//
// Protocol with the Go test, one JSON object per line:
//   stdout  {"authorize": URL}   the test plays the user on this URL ...
//   stdin   CALLBACK-URL         ... and answers with the redirect it got
//   stdout  {"result": {...}}    what the relying party saw
// Any failure is reported on stderr and ends the process with status 1.

import * as client from 'openid-client';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
};

let step = 'start';

/** check fails the current step with msg unless cond holds. */
const check = (cond, msg) => {
  if (!cond) throw new Error(msg);
};

/** atHash computes the OIDC at_hash of an access token for RS256/ES256. */
const atHash = (token) =>
  createHash('sha256').update(token).digest().subarray(0, 16).toString('base64url');

/** readLine returns the first line the Go test writes to stdin. */
const readLine = () =>
  new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (line) => {
      resolve(line.trim()); // before close: the close handler's reject is then a no-op
      rl.close();
    });
    rl.once('close', () => reject(new Error('stdin closed before the callback URL arrived')));
  });

/** errorText describes an openid-client error with the OAuth fields it carries. */
const errorText = (err) => {
  const parts = [`${err?.name ?? 'Error'}: ${err?.message ?? err}`];
  if (err?.code) parts.push(`code=${err.code}`);
  if (err?.error) parts.push(`error=${err.error}`);
  if (err?.error_description) parts.push(`error_description=${err.error_description}`);
  if (err?.status) parts.push(`status=${err.status}`);
  if (err?.cause) parts.push(`cause=${JSON.stringify(err.cause)}`);
  return parts.join(' ');
};

async function main() {
  const issuer = new URL(env('LATCHKEY_ISSUER'));
  const clientId = env('LATCHKEY_CLIENT_ID');
  const clientSecret = env('LATCHKEY_CLIENT_SECRET');
  const redirectUri = env('LATCHKEY_REDIRECT_URI');

  step = 'discovery';
  // The test server is plain http on 127.0.0.1; openid-client refuses that
  // unless told otherwise.
  const config = await client.discovery(
    issuer,
    clientId,
    { client_secret: clientSecret, redirect_uris: [redirectUri] },
    client.ClientSecretBasic(clientSecret),
    { execute: [client.allowInsecureRequests] },
  );
  const meta = config.serverMetadata();
  // One issuer string everywhere: the discovered one must be the configured
  // one character for character (ID tokens and the iss parameter are then
  // compared with it exactly).
  check(meta.issuer === env('LATCHKEY_ISSUER'), `issuer ${meta.issuer} is not ${env('LATCHKEY_ISSUER')}`);
  check(meta.supportsPKCE(), 'discovery does not advertise PKCE S256');
  // A second view of the same server authenticating with client_secret_post.
  const postConfig = new client.Configuration(meta, clientId, clientSecret, client.ClientSecretPost(clientSecret));
  client.allowInsecureRequests(postConfig);

  step = 'authorization request';
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authURL = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  process.stdout.write(JSON.stringify({ authorize: authURL.href }) + '\n');
  const callback = new URL(await readLine());

  step = 'authorizationCodeGrant';
  // Checks state, the RFC 9207 iss parameter, PKCE, and the ID token
  // (signature from the JWKS, iss, aud, exp, iat, nonce).
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims, 'no ID token claims');
  check(claims.nonce === nonce, `nonce ${claims.nonce}, want ${nonce}`);
  check(claims.at_hash === atHash(tokens.access_token), `at_hash ${claims.at_hash} does not match the access token`);
  check(typeof claims.auth_time === 'number', 'auth_time missing');
  check(tokens.refresh_token, 'no refresh token');
  check(tokens.token_type?.toLowerCase() === 'bearer', `token_type ${tokens.token_type}`);

  step = 'fetchUserInfo';
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  step = 'refreshTokenGrant';
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const refreshedClaims = refreshed.claims();
  check(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'refresh did not issue a new access token');
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'refresh did not rotate the refresh token');
  check(refreshedClaims, 'refresh with openid returned no ID token');
  check(refreshedClaims.sub === claims.sub, `refreshed sub ${refreshedClaims.sub}, want ${claims.sub}`);
  check(refreshedClaims.at_hash === atHash(refreshed.access_token), 'refreshed at_hash does not match');

  step = 'tokenIntrospection';
  const live = await client.tokenIntrospection(config, refreshed.access_token);
  check(live.active === true, `live access token introspected as ${JSON.stringify(live)}`);
  check(live.client_id === clientId, `introspection client_id ${live.client_id}`);
  check(live.sub === claims.sub, `introspection sub ${live.sub}`);
  const rotated = await client.tokenIntrospection(postConfig, tokens.access_token);
  check(rotated.active === false, `access token replaced by refresh still active: ${JSON.stringify(rotated)}`);

  step = 'tokenRevocation';
  await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
  const revoked = await client.tokenIntrospection(postConfig, refreshed.access_token);
  check(revoked.active === false, `access token still active after revoking its refresh token: ${JSON.stringify(revoked)}`);

  step = 'refresh after revocation';
  let refusal;
  try {
    await client.refreshTokenGrant(config, refreshed.refresh_token);
  } catch (err) {
    refusal = err;
  }
  check(refusal, 'a revoked refresh token was accepted');
  check(refusal.error === 'invalid_grant', `revoked refresh token refused with ${errorText(refusal)}, want invalid_grant`);

  step = 'report';
  const result = {
    issuer: meta.issuer,
    id_token: {
      sub: claims.sub,
      preferred_username: claims.preferred_username,
      email: claims.email,
      aud: claims.aud,
      nonce_matched: true,
    },
    userinfo,
    refreshed_id_token: { sub: refreshedClaims.sub, preferred_username: refreshedClaims.preferred_username },
    introspection: { live: live.active, rotated: rotated.active, revoked: revoked.active, username: live.username },
    refresh_after_revocation: refusal.error,
  };
  process.stdout.write(JSON.stringify({ result }) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`openid-client: ${step} failed: ${errorText(err)}\n`);
    process.exit(1);
  },
);
