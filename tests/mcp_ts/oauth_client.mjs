// The official TypeScript MCP SDK as an OAuth client of the gateway, identified by a Client ID
// Metadata Document (its client_id is the document's https URL, so no registration happens).
// The person's part — sign in as a dev user, press Allow — is played with plain fetch calls
// carrying the gateway's cookies by hand. The SDK then gets its tokens, lists tools and calls
// one; a JSON summary goes to stdout (diagnostics to stderr).
//
// usage: node oauth_client.mjs --server https://localhost:PORT/mcp
//          --client-metadata-url https://localhost:DOCPORT/client.json
//          --redirect-uri http://127.0.0.1:N/callback --username alice --password ...
// The gateway's and the document server's CA come from NODE_EXTRA_CA_CERTS.

import { parseArgs } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const { values: args } = parseArgs({
  options: {
    server: { type: 'string' },
    'client-metadata-url': { type: 'string' },
    'redirect-uri': { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
  },
});
for (const name of ['server', 'client-metadata-url', 'redirect-uri', 'username', 'password']) {
  if (!args[name]) throw new Error(`--${name} is required`);
}
const serverUrl = new URL(args.server);
const origin = serverUrl.origin;

/** The gateway's cookies, as a browser would keep them for its origin. */
class CookieJar {
  #cookies = new Map();

  take(response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      this.#cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }

  get header() {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  has(name) {
    return this.#cookies.has(name);
  }
}

/** One request of the headless browser; redirects are followed by the caller, step by step. */
async function browse(jar, url, { method = 'GET', form } = {}) {
  const headers = { cookie: jar.header, accept: 'text/html' };
  let body;
  if (form) {
    // A form posted by the gateway's own page: same origin.
    headers.origin = origin;
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const response = await fetch(new URL(url, origin), { method, headers, body, redirect: 'manual' });
  jar.take(response);
  return response;
}

function location(response, step) {
  const target = response.headers.get('location');
  if (response.status !== 303 || !target) {
    throw new Error(`${step}: expected 303 with Location, got ${response.status}`);
  }
  return target;
}

function hiddenInput(html, name) {
  const match = html.match(new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`));
  if (!match) throw new Error(`the consent page has no hidden input ${name}: ${html.slice(0, 500)}`);
  // The page escapes attribute values as HTML.
  return match[1].replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/** Sign in at /login, allow on the consent page; the query of the redirect back to the client. */
async function signInAndConsent(authorizationUrl) {
  const jar = new CookieJar();
  const steps = {};
  // Not signed in yet: the gateway sends the person to its login page and back.
  let response = await browse(jar, authorizationUrl);
  const login = new URL(location(response, 'GET /authorize'), origin);
  if (login.pathname !== '/login') throw new Error(`expected /login, went to ${login}`);
  const next = login.searchParams.get('next');
  response = await browse(jar, '/login', {
    method: 'POST',
    form: { username: args.username, password: args.password, next },
  });
  const back = location(response, 'POST /login');
  if (!jar.has('__Host-mimir_session')) throw new Error('the sign-in set no session cookie');
  response = await browse(jar, back);
  const page = await response.text();
  if (response.status !== 200) throw new Error(`consent page: ${response.status}: ${page.slice(0, 500)}`);
  // What the person reads: the page's text without markup, for the test to check.
  steps.consent_text = page.replace(/<style[\s\S]*?<\/style>/g, '').replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ').trim();
  response = await browse(jar, '/authorize', {
    method: 'POST',
    form: { request: hiddenInput(page, 'request'), csrf_token: hiddenInput(page, 'csrf_token'), decision: 'allow' },
  });
  const redirect = new URL(location(response, 'POST /authorize'));
  if (redirect.origin + redirect.pathname !== args['redirect-uri']) {
    throw new Error(`the code went to ${redirect}, not the registered redirect URI`);
  }
  return { query: Object.fromEntries(redirect.searchParams), steps };
}

/** OAuthClientProvider kept in memory for one run. */
class Provider {
  clientMetadataUrl = args['client-metadata-url'];
  #client;
  #tokens;
  #verifier;
  #state = crypto.randomUUID();
  seen = {};

  get redirectUrl() {
    return args['redirect-uri'];
  }

  // Used only for dynamic registration, which must not happen here; its name differs from the
  // document's so that the consent page shows which one the gateway used.
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK test agent (not from the document)',
      redirect_uris: [args['redirect-uri']],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state() { return this.#state; }
  clientInformation() { return this.#client; }
  saveClientInformation(info) { this.#client = info; }
  tokens() { return this.#tokens; }
  saveTokens(tokens) { this.#tokens = tokens; }
  saveCodeVerifier(verifier) { this.#verifier = verifier; }
  codeVerifier() { return this.#verifier; }

  async redirectToAuthorization(url) {
    this.seen.authorization_url = url.href;
    const { query, steps } = await signInAndConsent(url);
    Object.assign(this.seen, steps);
    if (query.error) throw new Error(`the gateway refused: ${query.error}: ${query.error_description}`);
    // RFC 9207: the answer names the issuer; and the state is ours (CSRF on the redirect).
    if (query.iss !== origin) throw new Error(`iss ${query.iss} is not the gateway ${origin}`);
    if (query.state !== this.#state) throw new Error('state came back changed');
    this.seen.iss = query.iss;
    this.code = query.code;
  }
}

function connect(provider) {
  const client = new Client({ name: 'mimir-ts-oauth-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  return { client, transport };
}

const provider = new Provider();
// Without a token the gateway answers 401; the SDK discovers the authorization server, takes
// the document URL as its client_id and calls redirectToAuthorization, which plays the person.
const attempt = connect(provider);
const first = await attempt.client.connect(attempt.transport).then(
  () => { throw new Error('the gateway let an unauthenticated client in'); },
  (error) => error,
);
if (!(first instanceof UnauthorizedError) || !provider.code) throw first;
// The code came back to the redirect URI: exchange it and connect again with a new transport,
// as an application does after its callback.
const { client, transport } = connect(provider);
await transport.finishAuth(provider.code);
await client.connect(transport);

const listed = await client.listTools();
const called = await client.callTool({
  name: 'memory_node',
  arguments: { operation: 'add', type: 'memory', properties: { title: 'via ts' } },
});
const text = called.content?.find((part) => part.type === 'text')?.text;
let result;
try {
  result = JSON.parse(text);
} catch {
  result = text;
}
const tokens = provider.tokens();
await client.close();

const authorization = new URL(provider.seen.authorization_url);
console.log(JSON.stringify({
  client_id: provider.clientInformation()?.client_id,
  client_id_is_document_url: provider.clientInformation()?.client_id === provider.clientMetadataUrl,
  authorization_client_id: authorization.searchParams.get('client_id'),
  code_challenge_method: authorization.searchParams.get('code_challenge_method'),
  resource: authorization.searchParams.get('resource'),
  first_connect_error: first.constructor.name,
  iss: provider.seen.iss,
  consent_text: provider.seen.consent_text,
  token_type: tokens?.token_type,
  has_refresh_token: Boolean(tokens?.refresh_token),
  server: client.getServerVersion(),
  tools: listed.tools.map((tool) => tool.name).sort(),
  call: { is_error: Boolean(called.isError), result },
}, null, 2));
