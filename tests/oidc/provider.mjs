// A real, certified OpenID provider (npm oidc-provider) for the sign-in tests, configured from one JSON
// argument: {"port": N, "clients": [{client_id, client_secret, redirect_uris, post_logout_redirect_uris,
// grant_types?}], "ttl"?: {AccessToken: seconds, ...}}.
// Anyone signs in through its development form (any login, any password); the account's claims are
// made from the login name (roles() below). Prints "ready <issuer>" on stdout once it listens.
import Provider from 'oidc-provider';

const settings = JSON.parse(process.argv[2]);
const issuer = `http://127.0.0.1:${settings.port}`;

// admin...: an admin; big...: a member of a hundred teams, whose session is too large for one cookie
function roles(id) {
  if (id.startsWith('admin')) return ['admin'];
  if (id.startsWith('big')) return ['user', ...Array.from({ length: 100 }, (_, i) => `team-${i}-of-a-large-org`)];
  return ['user'];
}

const provider = new Provider(issuer, {
  clients: settings.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  // PKCE with S256 is required of every client: a sign-in without it is refused by the provider itself
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'roles'] },
  // the claims the scopes grant go into the ID token too, so the gateway needs no userinfo call
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: true,
          name: id,
          roles: roles(id),
        };
      },
    };
  },
  cookies: { keys: ['frontdoor-test-provider-cookie-key'] },
  // token lifetimes a test shortens (a refresh test: an access token that is always about to expire)
  ...(settings.ttl ? { ttl: settings.ttl } : {}),
});
provider.proxy = false;

provider.listen(settings.port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
