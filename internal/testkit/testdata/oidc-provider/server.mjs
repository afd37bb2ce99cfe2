// A throwaway upstream OpenID Provider for Latchkey's tests, on npm
// oidc-provider (the version package-lock.json pins). internal/testkit's
// StartOIDCProvider runs it; it is not meant for anything else.
//
// Configuration: the JSON in the environment variable OIDC_PROVIDER_CONFIG,
//   {"clients":  [{"client_id", "client_secret", "redirect_uris": [...]}],
//    "accounts": [{"login", "password", "sub", "claims": {...},
//                  "amr": [...], "acr": "...", "userinfo_only": [...]}]}
// It listens on 127.0.0.1 on a port the system picks, with the issuer
// http://127.0.0.1:PORT, and then prints one line to stdout:
//   {"ready": true, "issuer": "http://127.0.0.1:PORT"}
//
// What it serves: the authorization code flow only, PKCE (S256) required of
// every client, client_secret_basic and client_secret_post. The scopes
// openid, profile (name, preferred_username, given_name, family_name),
// email (email, email_verified) and groups (groups). conformIdTokenClaims
// is false, so the claims of the granted scopes are in the ID token AND
// returned by userinfo, except the claims an account lists in
// userinfo_only, which userinfo alone returns. An account's amr and acr,
// and auth_time, go into the ID token (they ride on the openid scope).
//
// Interactions are its own page: GET /interaction/:uid shows a login form
// (<form method="post" action="/interaction/:uid/login"> with
// <input name="login">, <input name="password" type="password"> and
// <button type="submit">); a wrong login or password shows the form again
// with <p class="error">. Consent is granted without a page: every scope
// and claim the client asked for.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const config = JSON.parse(process.env.OIDC_PROVIDER_CONFIG || '{}');
const accounts = config.accounts || [];
const clients = (config.clients || []).map((c) => ({
  client_id: c.client_id,
  client_secret: c.client_secret,
  redirect_uris: c.redirect_uris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, error) {
  const message = error ? `<p class="error">${escapeHTML(error)}</p>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Upstream sign-in</title></head>
<body><h1>Upstream sign-in</h1>${message}
<form method="post" action="/interaction/${escapeHTML(uid)}/login">
<label>Login <input name="login" autocomplete="username" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form></body></html>`;
}

function readForm(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) reject(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

function findAccountBySub(sub) {
  return accounts.find((a) => a.sub === sub);
}

// The interaction routes: the login form and the automatic consent.
async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    send(res, 400, '<p class="error">interaction mismatch</p>');
    return;
  }
  const { prompt, params } = details;
  if (prompt.name === 'login') {
    if (req.method === 'GET' && !action) {
      send(res, 200, loginPage(uid));
      return;
    }
    if (req.method === 'POST' && action === 'login') {
      const form = await readForm(req);
      const account = accounts.find((a) => a.login === form.get('login'));
      const ok = account && typeof account.password === 'string'
        && crypto.timingSafeEqual(
          crypto.createHash('sha256').update(account.password).digest(),
          crypto.createHash('sha256').update(form.get('password') || '').digest(),
        );
      if (!ok) {
        send(res, 200, loginPage(uid, 'Wrong login or password.'));
        return;
      }
      const login = { accountId: account.sub, remember: false };
      if (account.amr && account.amr.length) login.amr = account.amr;
      if (account.acr) login.acr = account.acr;
      await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
      return;
    }
  }
  if (prompt.name === 'consent') {
    let grant;
    if (details.grantId) {
      grant = await provider.Grant.find(details.grantId);
    } else {
      grant = new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    }
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  send(res, 400, `<p class="error">unexpected prompt ${escapeHTML(prompt.name)}</p>`);
}

async function main() {
  let handler = (_req, res) => send(res, 503, 'starting');
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const signingKey = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    .privateKey.export({ format: 'jwk' });
  const acrValues = [...new Set(accounts.map((a) => a.acr).filter(Boolean))];

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [{ ...signingKey, kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' }] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    acrValues,
    conformIdTokenClaims: false,
    // acr, amr and auth_time ride on the openid scope: oidc-provider puts
    // in an ID token only the claims its scopes (or a claims request) ask
    // for, and these three otherwise only when requested.
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username', 'given_name', 'family_name'],
      groups: ['groups'],
    },
    scopes: ['openid'],
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
    },
    interactions: { url: (_ctx, i) => `/interaction/${i.uid}` },
    async findAccount(_ctx, sub) {
      const account = findAccountBySub(sub);
      if (!account) return undefined;
      return {
        accountId: sub,
        async claims(use) {
          const out = { ...(account.claims || {}), sub };
          if (use === 'id_token') {
            for (const name of account.userinfo_only || []) delete out[name];
          }
          return out;
        },
      };
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!doctype html><p class="error">${escapeHTML(out.error)}: ${escapeHTML(out.error_description || '')}</p>`;
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));

  const callback = provider.callback();
  handler = (req, res) => {
    const m = /^\/interaction\/([^/?]+)(?:\/([a-z]+))?(?:\?.*)?$/.exec(req.url);
    if (!m) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res, m[1], m[2]).catch((err) => {
      console.error('interaction failed:', err);
      if (!res.headersSent) send(res, 400, `<p class="error">${escapeHTML(err.message)}</p>`);
    });
  };
  process.stdout.write(`${JSON.stringify({ ready: true, issuer })}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
