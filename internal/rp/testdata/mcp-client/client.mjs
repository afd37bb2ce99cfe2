// The official TypeScript MCP SDK as an OAuth client of an MCP server that
// Latchkey protects, driven line by line by internal/rp/mcp_test.go.
//
// Environment:
//   MCP_SERVER_URL        the MCP endpoint (Latchkey's /mcp, or the test's
//                         external server)
//   MCP_REDIRECT_URI      the loopback callback this script listens on,
//                         e.g. http://127.0.0.1:PORT/callback
//   MCP_CLIENT_ID_URL     (optional) an https client ID metadata document
//                         URL: the SDK uses it when the authorization
//                         server advertises client_id_metadata_document_supported;
//                         without it the SDK registers dynamically (RFC 7591)
//   MCP_CLIENT_ID         (optional) a client ID an administrator
//                         registered: no registration at all
//   MCP_TOOL, MCP_TOOL_ARGS  the tool to call and its JSON arguments
//
// Commands, one per line on stdin; each answer is one JSON line on stdout:
//   connect  connect; when the SDK wants the user it prints
//            {"authorize": URL}, waits for the browser to reach the
//            callback, finishes the authorization and connects again;
//            then {"connected": {...}}, or {"connected": {"error": ...}}
//   call     call the tool: {"call": {"result": ..., "error": ...,
//            "unauthorized": bool}}; an {"authorize": URL} line comes
//            first if the SDK had to ask the user again
//   state    {"state": {tokens, token saves, what was sent}}
//   quit     close and exit
// A failure the script cannot report as an answer goes to stderr with a
// non-zero exit.

import http from 'node:http';
import readline from 'node:readline';
import { randomBytes } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const serverURL = new URL(required('MCP_SERVER_URL'));
const redirectURI = required('MCP_REDIRECT_URI');
const clientIDURL = process.env.MCP_CLIENT_ID_URL || undefined;
const preregistered = process.env.MCP_CLIENT_ID || undefined;
const toolName = required('MCP_TOOL');
const toolArgs = JSON.parse(process.env.MCP_TOOL_ARGS || '{}');

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
}

function say(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// What went over the wire, for the test's assertions: the authorization
// URLs' resource parameters, the token requests' grant types and
// resources, registrations, and the 401 challenges seen.
const wire = { authorize: [], token: [], register: [], challenges: [], metadata: [] };

// In-memory OAuthClientProvider: it keeps what the SDK hands it, and prints
// the authorization URL for the test (which plays the user in Chromium).
class MemoryProvider {
  constructor() {
    this._client = preregistered ? { client_id: preregistered } : undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._discovery = undefined;
    this._state = undefined;
    this.tokenSaves = 0;
    this.clientMetadataUrl = clientIDURL;
    this.pendingAuthorization = undefined;
  }
  get redirectUrl() { return redirectURI; }
  get clientMetadata() {
    return {
      client_name: 'MCP SDK e2e',
      redirect_uris: [redirectURI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native',
    };
  }
  state() {
    this._state = randomBytes(16).toString('base64url');
    return this._state;
  }
  clientInformation() { return this._client; }
  saveClientInformation(info) { this._client = info; }
  tokens() { return this._tokens; }
  saveTokens(tokens) { this._tokens = tokens; this.tokenSaves++; }
  redirectToAuthorization(url) {
    this.pendingAuthorization = url.href;
    say({ authorize: url.href });
  }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() {
    if (!this._verifier) throw new Error('no code verifier saved');
    return this._verifier;
  }
  invalidateCredentials(scope) {
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }
  saveDiscoveryState(s) { this._discovery = s; }
  discoveryState() { return this._discovery; }
}

const provider = new MemoryProvider();

// recordingFetch is the transport's fetch (the SDK uses it for discovery,
// registration and tokens too): it notes what the test asserts on.
async function recordingFetch(input, init) {
  const url = new URL(typeof input === 'string' ? input : input.url ?? input.href);
  const method = init?.method ?? 'GET';
  if (method === 'POST' && init?.body instanceof URLSearchParams && init.body.get('grant_type')) {
    wire.token.push({ url: url.href, grant_type: init.body.get('grant_type'), resource: init.body.get('resource') });
  } else if (method === 'POST' && url.pathname.endsWith('/register')) {
    wire.register.push({ url: url.href, body: JSON.parse(init.body) });
  } else if (url.pathname.startsWith('/.well-known/')) {
    wire.metadata.push(url.href);
  }
  const res = await fetch(input, init);
  if (res.status === 401) {
    wire.challenges.push({ url: url.href, www_authenticate: res.headers.get('www-authenticate') });
  }
  return res;
}

// The loopback callback (RFC 8252 §7.3): the browser lands here after
// consent; the code (or error) resolves the promise the script waits on.
let callbackWaiter = null;
const callbackServer = http.createServer((req, res) => {
  const u = new URL(req.url, redirectURI);
  if (u.pathname !== new URL(redirectURI).pathname) {
    res.writeHead(404).end();
    return;
  }
  const params = Object.fromEntries(u.searchParams);
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(params.code ? '<!doctype html><title>Signed in</title><p>Signed in. You may close this window.</p>'
    : '<!doctype html><title>Not signed in</title><p>Authorization failed.</p>');
  if (callbackWaiter) {
    const w = callbackWaiter;
    callbackWaiter = null;
    w(params);
  }
});
await new Promise((resolve, reject) => {
  const r = new URL(redirectURI);
  callbackServer.once('error', reject);
  callbackServer.listen(Number(r.port), r.hostname, resolve);
});

function nextCallback() {
  return new Promise(resolve => { callbackWaiter = resolve; });
}

let client = null;
let transport = null;

function newConnection() {
  transport = new StreamableHTTPClientTransport(serverURL, { authProvider: provider, fetch: recordingFetch });
  client = new Client({ name: 'latchkey-mcp-e2e', version: '1.0.0' });
  transport.onerror = err => console.error('transport error:', err?.message ?? err);
}

async function connect() {
  newConnection();
  const callback = nextCallback();
  let rounds = 0;
  try {
    await client.connect(transport);
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    rounds++;
    const params = await callback;
    if (!params.code) throw new Error(`authorization failed: ${JSON.stringify(params)}`);
    if (params.state !== provider._state) throw new Error(`state ${params.state} differs from ${provider._state}`);
    wire.authorize.push(new URL(provider.pendingAuthorization).searchParams.get('resource'));
    await transport.finishAuth(params.code);
    newConnection();
    await client.connect(transport);
  }
  callbackWaiter = null;
  const tools = await client.listTools();
  return { rounds, client_id: provider._client?.client_id, tools: tools.tools.map(t => t.name) };
}

async function call() {
  if (!client) throw new Error('call before connect');
  provider.pendingAuthorization = undefined;
  try {
    const result = await client.callTool({ name: toolName, arguments: toolArgs });
    return { result };
  } catch (err) {
    const unauthorized = err instanceof UnauthorizedError;
    return { error: `${err?.name}: ${err?.message}`, unauthorized, reauthorize: provider.pendingAuthorization ?? null };
  }
}

function state() {
  return {
    client_id: provider._client?.client_id ?? null,
    access_token: provider._tokens?.access_token ?? null,
    refresh_token: provider._tokens?.refresh_token ?? null,
    scope: provider._tokens?.scope ?? null,
    token_saves: provider.tokenSaves,
    wire,
  };
}

const rl = readline.createInterface({ input: process.stdin });
try {
  for await (const line of rl) {
    const cmd = line.trim();
    if (cmd === 'connect') {
      try {
        say({ connected: await connect() });
      } catch (err) {
        say({ connected: { error: `${err?.name}: ${err?.message}` } });
      }
    }
    else if (cmd === 'call') say({ call: await call() });
    else if (cmd === 'state') say({ state: state() });
    else if (cmd === 'quit') break;
    else if (cmd !== '') throw new Error(`unknown command ${JSON.stringify(cmd)}`);
  }
} catch (err) {
  console.error(err?.stack ?? String(err));
  process.exitCode = 1;
} finally {
  rl.close();
  await transport?.close().catch(() => {});
  callbackServer.close();
  callbackServer.closeAllConnections?.();
}
