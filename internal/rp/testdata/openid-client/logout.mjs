// Drives panva's openid-client through a sign-in and RP-initiated logout
// against a running Latchkey server. Run by TestOpenIDClientLogout in
// internal/rp.
//
// Environment: LATCHKEY_ISSUER, LATCHKEY_CLIENT_ID, LATCHKEY_CLIENT_SECRET,
// LATCHKEY_REDIRECT_URI, LATCHKEY_POST_LOGOUT_URI.
//
// Protocol with the Go test, one JSON object per line:
//   stdout  {"authorize": URL}       the test plays the user on this URL ...
//   stdin   CALLBACK-URL             ... and answers with the redirect it got
//   stdout  {"end_session": URL, "sid": S, "state": S}
//                                    the URL client.buildEndSessionUrl built
// Any failure is reported on stderr and ends the process with status 1.

import * as client from 'openid-client';
import { createInterface } from 'node:readline';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
};

const readLine = () =>
  new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (line) => {
      resolve(line.trim());
      rl.close();
    });
    rl.once('close', () => reject(new Error('stdin closed before the callback URL arrived')));
  });

let step = 'start';

async function main() {
  const redirectUri = env('LATCHKEY_REDIRECT_URI');
  step = 'discovery';
  const config = await client.discovery(
    new URL(env('LATCHKEY_ISSUER')),
    env('LATCHKEY_CLIENT_ID'),
    { client_secret: env('LATCHKEY_CLIENT_SECRET'), redirect_uris: [redirectUri] },
    client.ClientSecretBasic(env('LATCHKEY_CLIENT_SECRET')),
    { execute: [client.allowInsecureRequests] },
  );
  if (!config.serverMetadata().end_session_endpoint) throw new Error('discovery lists no end_session_endpoint');

  step = 'authorization request';
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authURL = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  process.stdout.write(JSON.stringify({ authorize: authURL.href }) + '\n');
  const callback = new URL(await readLine());

  step = 'authorizationCodeGrant';
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });

  step = 'buildEndSessionUrl';
  const logoutState = client.randomState();
  const end = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: env('LATCHKEY_POST_LOGOUT_URI'),
    state: logoutState,
  });
  process.stdout.write(JSON.stringify({ end_session: end.href, sid: tokens.claims().sid ?? '', state: logoutState }) + '\n');
}

main().then(() => process.exit(0)).catch((err) => {
  process.stderr.write(`openid-client logout failed at ${step}: ${err?.name ?? 'Error'}: ${err?.message ?? err}\n`);
  process.exit(1);
});
