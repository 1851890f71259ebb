// The OpenID Provider the dashboard's browser test signs in at: panva's certified
// `oidc-provider` (MIT, pinned in package-lock.json), configured as a production issuer would
// be for the dashboard's public client, on loopback HTTP.
//
// * The client `anslut-dashboard`: public (`token_endpoint_auth_method: none`), PKCE (S256)
//   required, authorization code only, its one redirect URI the dashboard's callback.
// * Access tokens for the resource `urn:anslut` are JWTs with audience `anslut` (what
//   `anslut serve` expects by default), signed RS256 with a key made at start; its public half
//   is served at `/jwks`, which the server under test fetches (`auth.jwks_url`).
// * The Anslut claims (`role`, `region`, `org` for a provider, and `nbf`, which the server
//   requires and oidc-provider does not set) come from `extraTokenClaims` and the account
//   table below, keyed by the login typed on the login page.
// * The interaction pages (login, then consent) are this file's, as every deployment of
//   oidc-provider writes its own, through `interactionDetails` / `interactionFinished`; the
//   provider's built-in development pages load a web font from the internet. The browser
//   fills them in.
// * Everything the provider refused is kept in `seen.rejected` (its error events, and any
//   interaction that failed).

import { generateKeyPairSync } from "node:crypto";
import { createServer } from "node:http";
import Provider, { errors } from "oidc-provider";

export const CLIENT_ID = "anslut-dashboard";
export const RESOURCE = "urn:anslut";
export const AUDIENCE = "anslut";

// The accounts: the login typed on the provider's page, and the claims their tokens carry.
export const ACCOUNTS = {
  "oidc-officer": { role: "officer", region: "jamtland-harjedalen" },
  "oidc-varmland-officer": { role: "officer", region: "varmland" },
};

// The provider's error events: each means it refused or failed something.
const ERROR_EVENTS = [
  "authorization.error", "backchannel.error", "jwks.error", "discovery.error", "end_session.error",
  "grant.error", "introspection.error", "pushed_authorization_request.error", "registration_create.error",
  "revocation.error", "server_error", "userinfo.error", "interaction.error",
];

// Starts the provider on 127.0.0.1:`port`, known as `issuer` (e.g. http://localhost:PORT,
// another site than the dashboard's 127.0.0.1, so they share no cookies).
export async function startIssuer({ issuer, port, redirectUri }) {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const key = { ...privateKey.export({ format: "jwk" }), kid: `test-${Date.now()}`, alg: "RS256", use: "sig" };
  const seen = { authorizations: [], tokens: 0, rejected: [] };
  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      application_type: "web",
      token_endpoint_auth_method: "none",
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
    }],
    jwks: { keys: [key] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        // The client asks for `openid` only: its token is still for Anslut.
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: "anslut",
            audience: AUDIENCE,
            accessTokenFormat: "jwt",
            accessTokenTTL: 600,
            jwt: { sign: { alg: "RS256" } },
          };
        },
      },
    },
    async findAccount(_ctx, sub) {
      return { accountId: sub, claims: async () => ({ sub }) };
    },
    async extraTokenClaims(_ctx, token) {
      const account = ACCOUNTS[token.accountId];
      if (!account) return undefined;
      return { ...account, nbf: Math.floor(Date.now() / 1000) };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    ttl: { Session: 600, Interaction: 600, Grant: 600, AuthorizationCode: 60, AccessToken: 600, IdToken: 600 },
    // The client's cross-origin calls (the token endpoint) from the dashboard's origin only.
    clientBasedCORS: (_ctx, origin) => origin === new URL(redirectUri).origin,
    cookies: { keys: [privateKey.export({ format: "jwk" }).d.slice(0, 32)] },
  });
  provider.on("authorization.accepted", (ctx) => {
    seen.authorizations.push({ ...ctx.oidc.params });
  });
  provider.on("access_token.issued", () => {
    seen.tokens += 1;
  });
  for (const event of ERROR_EVENTS) {
    provider.on(event, (_ctx, error) => seen.rejected.push(`${event}: ${error?.message} ${error?.error_description || ""}`));
  }
  const callback = provider.callback();
  const server = createServer((req, res) => {
    if (!/^\/interaction\/[\w-]+$/.test(new URL(req.url, issuer).pathname)) {
      callback(req, res);
      return;
    }
    interaction(provider, req, res).catch((error) => {
      seen.rejected.push(`interaction: ${error.message}`);
      res.writeHead(400, { "Content-Type": "text/plain" });
      res.end(error.message);
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return { provider, server, seen, close: () => new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections();
  }) };
}

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function html(title, form) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>`
    + `<link rel="icon" href="data:,"></head><body><h1>${escape(title)}</h1>`
    + `<form method="post" autocomplete="off">${form}</form></body></html>`;
}

function body(req) {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => { text += chunk; });
    req.on("end", () => resolve(new URLSearchParams(text)));
    req.on("error", reject);
  });
}

// One interaction: GET shows its page, POST finishes it (login: the account typed; consent:
// a grant of what the client asked for).
async function interaction(provider, req, res) {
  const { prompt, params, session, grantId } = await provider.interactionDetails(req, res);
  if (req.method === "GET") {
    const page = prompt.name === "login"
      ? html("Sign in", '<input type="hidden" name="prompt" value="login">'
        + '<p><label>Login <input name="login" required autofocus></label></p>'
        + '<p><label>Password <input name="password" type="password" required></label></p>'
        + '<button type="submit">Sign in</button>')
      : html("Consent", '<input type="hidden" name="prompt" value="consent">'
        + `<p>${escape(params.client_id)} asks for ${escape(params.scope || "")}.</p>`
        + '<button type="submit">Continue</button>');
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
    res.end(page);
    return;
  }
  if (req.method !== "POST") throw new Error(`${req.method} on an interaction`);
  const form = await body(req);
  if (form.get("prompt") !== prompt.name) throw new Error(`answered ${form.get("prompt")} to ${prompt.name}`);
  if (prompt.name === "login") {
    const login = form.get("login") || "";
    if (!login) throw new Error("no login");
    await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
  } else if (prompt.name === "consent") {
    const grant = grantId
      ? await provider.Grant.find(grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { details } = prompt;
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(" "));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(" "));
    }
    const result = { consent: { grantId: await grant.save() } };
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
  } else {
    throw new Error(`the prompt ${prompt.name}`);
  }
}
