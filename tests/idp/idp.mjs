// A real OpenID provider (oidc-provider) on 127.0.0.1 for the proxy's authentication tests.
//
//   node idp.mjs <port> <resource>
//
// Clients:
// - `mcp-agent` / `agent-secret`: client-credentials grant; access tokens for <resource> are
//   RFC 9068 JWTs (RS256, aud = <resource>) carrying realm_access.roles = ["developer"].
// - `mimir-web` / `web-secret`: authorization code (+ PKCE) for browser sign-in at the proxy.
//   Its redirect and post-logout URIs are any https://localhost:<port>/… path of the proxy
//   (`/auth/oauth/callback`, `/login`), since each test proxy gets a free port. Users sign in on
//   oidc-provider's development login page with any name (password ignored); the ID token
//   carries `roles` from ROLES below (scope `roles`).
// Prints "ready <issuer>" once listening.
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const resource = process.argv[3] ?? 'https://mimir.test';
const issuer = `http://127.0.0.1:${port}`;
const ROLES = { alice: ['developer'], ada: ['admin'] };
const WEB_CLIENT = 'mimir-web';

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'idp-rs256', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [{
    client_id: 'mcp-agent',
    client_secret: 'agent-secret',
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
  }, {
    client_id: WEB_CLIENT,
    client_secret: 'web-secret',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: ['https://localhost/auth/oauth/callback'],
    post_logout_redirect_uris: ['https://localhost/login'],
  }],
  claims: { openid: ['sub'], roles: ['roles'] },
  // Claims of requested scopes go into the ID token, which is all the proxy reads.
  conformIdTokenClaims: false,
  findAccount: (_ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, roles: ROLES[id] ?? ['viewer'] }),
  }),
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, indicator) => {
        if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
        return {
          scope: 'mcp',
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: { ClientCredentials: 300 },
  extraTokenClaims: () => ({ realm_access: { roles: ['developer'] } }),
});
// Loopback over plain HTTP is fine for a test IdP; silence the production warnings.
provider.proxy = false;

// The browser client's URIs: any port of https://localhost with the registered path.
const anyLocalhostPort = (value, registered) => {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' && url.hostname === 'localhost' && url.search === ''
      && registered.includes(`https://localhost${url.pathname}`);
  } catch {
    return false;
  }
};
const { redirectUriAllowed, postLogoutRedirectUriAllowed } = provider.Client.prototype;
provider.Client.prototype.redirectUriAllowed = function allowed(value) {
  return this.clientId === WEB_CLIENT
    ? anyLocalhostPort(value, this.redirectUris) : redirectUriAllowed.call(this, value);
};
provider.Client.prototype.postLogoutRedirectUriAllowed = function allowed(value) {
  return this.clientId === WEB_CLIENT
    ? anyLocalhostPort(value, this.postLogoutRedirectUris) : postLogoutRedirectUriAllowed.call(this, value);
};

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
