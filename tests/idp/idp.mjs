// A real OpenID provider (oidc-provider) on 127.0.0.1 for the proxy's authentication tests.
//
//   node idp.mjs <port> <resource>
//
// Client `mcp-agent` / secret `agent-secret` may use the client-credentials grant; access tokens
// for <resource> are RFC 9068 JWTs (RS256, aud = <resource>) carrying
// realm_access.roles = ["developer"]. Prints "ready <issuer>" once listening.
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 0);
const resource = process.argv[3] ?? 'https://mimir.test';
const issuer = `http://127.0.0.1:${port}`;

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
  }],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
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

provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
