// Drives panva's openid-client through the grants of command-line tools and
// machines against a running Latchkey server. Run by TestOpenIDClientDeviceGrant
// and TestOpenIDClientClientCredentials in internal/rp.
//
//   node grants.mjs device
//     The device authorization grant (RFC 8628) for a public client, then a
//     refresh. Protocol with the Go test, one JSON object per line on stdout:
//       {"device": {...}}       the device authorization response
//       {"first_poll": ANSWER}  how the first poll was answered; only then
//                               does the test play the person at
//                               verification_uri_complete, who is, as in
//                               life, slower than the tool
//       {"result": {...}}       what the client saw
//
//   node grants.mjs client_credentials
//     The client credentials grant for a confidential client, then API calls
//     with its token. Prints {"result": {...}}.
//
// Environment: LATCHKEY_ISSUER, LATCHKEY_CLIENT_ID, LATCHKEY_CLIENT_SECRET
// (client_credentials only), LATCHKEY_SCOPE, LATCHKEY_ALLOWED_PATH and
// LATCHKEY_DENIED_PATH (API paths the token may and may not read).
// Any failure is reported on stderr and ends the process with status 1.

import * as client from 'openid-client';

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

/** say writes one line of the protocol with the Go test. */
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

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

/**
 * discover configures openid-client from the server's metadata. The test
 * server is plain http on 127.0.0.1, which openid-client refuses unless told.
 */
const discover = async (clientAuth, metadata) => {
  const issuer = env('LATCHKEY_ISSUER');
  const config = await client.discovery(new URL(issuer), env('LATCHKEY_CLIENT_ID'), metadata, clientAuth, {
    execute: [client.allowInsecureRequests],
  });
  check(config.serverMetadata().issuer === issuer, `issuer ${config.serverMetadata().issuer} is not ${issuer}`);
  return config;
};

/**
 * resource calls the API with a bearer token through fetchProtectedResource
 * and returns the status; a refusal with a WWW-Authenticate challenge
 * (which openid-client throws) gives the status and the challenge's error.
 */
const resource = async (config, token, path) => {
  const url = new URL(path, env('LATCHKEY_ISSUER'));
  try {
    const resp = await client.fetchProtectedResource(config, token, url, 'GET');
    const body = await resp.text();
    return { status: resp.status, user: resp.headers.get('x-ausername') ?? '', body };
  } catch (err) {
    if (err instanceof client.WWWAuthenticateChallengeError) {
      const challenge = err.cause.find((c) => c.scheme === 'bearer') ?? err.cause[0];
      return { status: err.response.status, error: challenge?.parameters?.error ?? '' };
    }
    throw err;
  }
};

/** apiChecks reads the allowed and the denied path with a token. */
const apiChecks = async (config, token) => {
  const allowed = await resource(config, token, env('LATCHKEY_ALLOWED_PATH'));
  const denied = await resource(config, token, env('LATCHKEY_DENIED_PATH'));
  return { allowed: { status: allowed.status, error: allowed.error }, denied: { status: denied.status, error: denied.error } };
};

async function device() {
  step = 'discovery';
  // A public client: no secret, client_id in the body (client.None).
  const config = await discover(client.None(), {});
  const meta = config.serverMetadata();
  check(meta.device_authorization_endpoint, 'discovery advertises no device_authorization_endpoint');

  // Record how each poll was answered and tell the Go test the first
  // answer: wrap openid-client's fetch, look, pass the response on.
  const polls = [];
  config[client.customFetch] = async (url, options) => {
    const resp = await fetch(url, options);
    const grant = new URLSearchParams(options?.body?.toString() ?? '').get('grant_type');
    if (grant === 'urn:ietf:params:oauth:grant-type:device_code') {
      const answer = resp.ok ? 'tokens' : ((await resp.clone().json().catch(() => ({}))).error ?? `status ${resp.status}`);
      polls.push(answer);
      if (polls.length === 1) say({ first_poll: answer });
    }
    return resp;
  };

  step = 'initiateDeviceAuthorization';
  const da = await client.initiateDeviceAuthorization(config, { scope: env('LATCHKEY_SCOPE') });
  check(da.device_code && da.user_code && da.verification_uri, `device authorization response: ${JSON.stringify(da)}`);
  say({
    device: {
      user_code: da.user_code,
      verification_uri: da.verification_uri,
      verification_uri_complete: da.verification_uri_complete,
      interval: da.interval,
      expires_in: da.expires_in,
    },
  });

  step = 'pollDeviceAuthorizationGrant';
  // Validates the ID token too: signature from the JWKS, iss, aud, exp, iat.
  const tokens = await client.pollDeviceAuthorizationGrant(config, da);
  const claims = tokens.claims();
  check(tokens.token_type?.toLowerCase() === 'bearer', `token_type ${tokens.token_type}`);
  check(tokens.refresh_token, 'the device grant issued no refresh token');
  check(claims, 'openid was asked for, but no ID token came');

  step = 'API with the device token';
  const api = await apiChecks(config, tokens.access_token);

  step = 'refreshTokenGrant';
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  check(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'refresh did not issue a new access token');
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'refresh did not rotate the refresh token');
  const refreshedClaims = refreshed.claims();

  step = 'API after the refresh';
  const apiRefreshed = await apiChecks(config, refreshed.access_token);
  const replaced = await resource(config, tokens.access_token, env('LATCHKEY_ALLOWED_PATH'));

  step = 'reuse of the rotated refresh token';
  let reuse;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (err) {
    reuse = err;
  }
  check(reuse, 'a rotated refresh token was accepted again');
  const afterReuse = await resource(config, refreshed.access_token, env('LATCHKEY_ALLOWED_PATH'));

  step = 'report';
  say({
    result: {
      polls,
      scope: tokens.scope,
      id_token: { sub: claims.sub, preferred_username: claims.preferred_username, aud: claims.aud },
      refreshed_id_token: { sub: refreshedClaims?.sub ?? '' },
      api,
      api_refreshed: apiRefreshed,
      replaced_access_token: { status: replaced.status, error: replaced.error },
      rotated_refresh_reuse: reuse.error ?? errorText(reuse),
      family_after_reuse: { status: afterReuse.status, error: afterReuse.error },
    },
  });
}

async function clientCredentials() {
  step = 'discovery';
  const secret = env('LATCHKEY_CLIENT_SECRET');
  const config = await discover(client.ClientSecretBasic(secret), { client_secret: secret });
  const meta = config.serverMetadata();
  check(meta.grant_types_supported?.includes('client_credentials'),
    `grant_types_supported ${JSON.stringify(meta.grant_types_supported)} lacks client_credentials`);

  step = 'clientCredentialsGrant';
  const tokens = await client.clientCredentialsGrant(config, { scope: env('LATCHKEY_SCOPE') });
  check(tokens.token_type?.toLowerCase() === 'bearer', `token_type ${tokens.token_type}`);
  // The same grant with the secret in the body (client_secret_post).
  const postConfig = new client.Configuration(meta, env('LATCHKEY_CLIENT_ID'), secret, client.ClientSecretPost(secret));
  client.allowInsecureRequests(postConfig);
  const posted = await client.clientCredentialsGrant(postConfig);

  step = 'API with the service token';
  const api = await apiChecks(config, tokens.access_token);
  const who = await resource(config, tokens.access_token, '/rest/api/latest/application-properties');

  step = 'tokenIntrospection';
  const introspection = await client.tokenIntrospection(config, tokens.access_token);

  step = 'wrong secret';
  const wrong = new client.Configuration(meta, env('LATCHKEY_CLIENT_ID'), 'not-the-secret', client.ClientSecretBasic('not-the-secret'));
  client.allowInsecureRequests(wrong);
  let refusal;
  try {
    await client.clientCredentialsGrant(wrong);
  } catch (err) {
    refusal = err;
  }
  check(refusal, 'a wrong client secret was accepted');
  // Basic authentication failed: RFC 6749 §5.2 asks for 401 with a Basic
  // challenge, which openid-client throws as such; the OAuth error is in
  // the body.
  check(refusal instanceof client.WWWAuthenticateChallengeError, `wrong secret refused with ${errorText(refusal)}`);
  const refusalBody = await refusal.response.json().catch(() => ({}));

  step = 'report';
  say({
    result: {
      scope: tokens.scope,
      refresh_token: Boolean(tokens.refresh_token || posted.refresh_token),
      default_scope: posted.scope,
      api,
      x_ausername: who.user,
      introspection: { active: introspection.active, client_id: introspection.client_id, username: introspection.username },
      wrong_secret: {
        status: refusal.response.status,
        challenge: refusal.cause.map((c) => c.scheme).join(' '),
        error: refusalBody.error ?? '',
      },
    },
  });
}

const modes = { device, client_credentials: clientCredentials };
const mode = modes[process.argv[2]];
if (!mode) {
  process.stderr.write(`usage: node grants.mjs ${Object.keys(modes).join('|')}\n`);
  process.exit(2);
}
mode().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`openid-client: ${step} failed: ${errorText(err)}\n`);
    process.exit(1);
  },
);
