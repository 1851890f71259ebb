// Anslut's dashboard: signs in, keeps the bearer token in this module's memory only (no web
// storage, no cookie: a reload signs out), and shows the server's HTML
// fragments for the view named in the URL's fragment (#/pipeline, #/cases?phase=live, ...).
// No dependencies; no inline script or style (the Content-Security-Policy forbids them).

let token = null;
let who = null;
let lang = document.documentElement.lang || "sv";

const $ = (id) => document.getElementById(id);
const main = $("main");

function say(sv, en) {
  return lang === "en" ? en : sv;
}

function showError(message) {
  const box = $("signin-error");
  if (box) box.textContent = message;
}

// The claims of a JWT, for showing who is signed in (the server verifies the token; this
// only reads it).
function claims(jwt) {
  try {
    const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

function applySession() {
  const signedIn = token !== null;
  $("nav").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  $("signin").hidden = signedIn;
  $("who").textContent = signedIn && who
    ? `${who.role} · ${who.region}${who.org ? " · " + who.org : ""}`
    : "";
}

function signIn(jwt) {
  token = jwt;
  who = claims(jwt);
  showError("");
  applySession();
  if (!location.hash || location.hash === "#" || location.hash === "#main") {
    location.hash = "#/pipeline";
  } else {
    load();
  }
}

function signOut(message) {
  token = null;
  who = null;
  main.replaceChildren();
  applySession();
  showError(message || "");
}

// The fragment's URL for the current location: #/cases?phase=live → /dashboard/views/cases?phase=live&lang=sv
function viewRequest() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "pipeline";
  const [path, query] = hash.split("?", 2);
  const safe = /^[a-z]+(\/[0-9a-f-]{36}\/history)?$/.test(path) ? path : "pipeline";
  const params = new URLSearchParams(query || "");
  params.set("lang", lang);
  const view = safe.endsWith("/history") ? "history" : safe;
  return { view, url: `/dashboard/views/${safe}?${params}` };
}

let loading = 0;

async function load() {
  if (token === null) return;
  const { view, url } = viewRequest();
  const ticket = ++loading;
  const started = performance.now();
  main.setAttribute("aria-busy", "true");
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#/${view}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  let response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${token}`, Accept: "text/html" } });
  } catch {
    main.removeAttribute("aria-busy");
    main.replaceChildren(errorBox(say("Servern svarar inte.", "The server does not answer.")));
    return;
  }
  if (ticket !== loading) return;
  if (response.status === 401) {
    signOut(say("Inloggningen har gått ut. Logga in igen.", "The sign-in has expired. Sign in again."));
    return;
  }
  if (!response.ok) {
    let problem = {};
    try { problem = await response.json(); } catch { /* not a problem document */ }
    main.replaceChildren(errorBox(`${problem.title || response.status}${problem.detail ? ": " + problem.detail : ""}`));
  } else {
    main.innerHTML = await response.text();
  }
  main.removeAttribute("aria-busy");
  main.dataset.view = view;
  main.dataset.loads = String(ticket);
  main.dataset.loadMs = String(Math.round(performance.now() - started));
  const heading = $("view-title");
  if (heading) heading.focus({ preventScroll: true });
}

function errorBox(message) {
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = message;
  return p;
}

async function devSignIn(form) {
  const data = new FormData(form);
  const body = { role: data.get("role"), region: data.get("region") };
  const org = String(data.get("org") || "").trim();
  if (org) body.org = org;
  const response = await fetch("/dashboard/dev-token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    showError(`${answer.title || response.status}${answer.detail ? ": " + answer.detail : ""}`);
    return;
  }
  signIn(answer.token);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Authorization code with PKCE in a pop-up: the verifier and state stay in this page's
// memory; /dashboard/callback posts the answer's query back here and closes.
async function oidcSignIn() {
  // Opened before anything is awaited, while the click still counts as the user's: pop-up
  // blockers allow it. It goes to the issuer once the request is built.
  const popup = window.open("about:blank", "anslut-signin", "popup,width=520,height=680");
  if (!popup) throw new Error(say("Tillåt popup-fönster för inloggningen.", "Allow the sign-in pop-up."));
  try {
    await authorize(popup);
  } finally {
    if (!popup.closed) popup.close();
  }
}

async function authorize(popup) {
  const issuer = document.body.dataset.oidcIssuer;
  const clientId = document.body.dataset.oidcClient;
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const redirectUri = `${location.origin}/dashboard/callback`;
  const request = new URL(discovery.authorization_endpoint);
  request.search = new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: redirectUri, scope: "openid",
    code_challenge: challenge, code_challenge_method: "S256", state,
  }).toString();
  popup.location.href = request.toString();
  const code = await new Promise((resolve, reject) => {
    const closed = setInterval(() => {
      if (!popup.closed) return;
      clearInterval(closed);
      // The callback closes the window right after posting: its answer may still be queued.
      setTimeout(() => {
        window.removeEventListener("message", answer);
        reject(new Error(say("fönstret stängdes", "the window was closed")));
      }, 1000);
    }, 500);
    function answer(event) {
      if (event.origin !== location.origin || event.source !== popup) return;
      clearInterval(closed);
      window.removeEventListener("message", answer);
      const params = new URLSearchParams(String(event.data));
      if (params.get("state") !== state) reject(new Error("state"));
      else if (params.get("error")) reject(new Error(params.get("error")));
      else resolve(params.get("code"));
    }
    window.addEventListener("message", answer);
  });
  const response = await fetch(discovery.token_endpoint, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code", code, redirect_uri: redirectUri,
      client_id: clientId, code_verifier: verifier,
    }),
  });
  const tokens = await response.json();
  if (!response.ok || !tokens.access_token) throw new Error(tokens.error || String(response.status));
  signIn(tokens.access_token);
}

// Switching language keeps the session: the shell's labels come from the server again.
async function switchLanguage(link) {
  const next = link.dataset.lang;
  const shell = await (await fetch(`/?lang=${encodeURIComponent(next)}`)).text();
  const doc = new DOMParser().parseFromString(shell, "text/html");
  document.querySelector("header.top").replaceWith(document.adoptNode(doc.querySelector("header.top")));
  $("signin").replaceWith(document.adoptNode(doc.getElementById("signin")));
  document.title = doc.title;
  document.documentElement.lang = next;
  lang = next;
  applySession();
  await load();
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.id === "dev-signin") {
    event.preventDefault();
    devSignIn(form).catch((error) => showError(String(error.message || error)));
  } else if (form.dataset.view) {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (value !== "") params.set(name, String(value));
    const query = params.toString();
    location.hash = `#/${form.dataset.view}${query ? "?" + query : ""}`;
  }
});

document.addEventListener("click", (event) => {
  const target = event.target.closest("button, a");
  if (!target) return;
  if (target.id === "signout") {
    signOut("");
  } else if (target.id === "oidc-signin") {
    oidcSignIn().catch((error) => showError(`${say("Inloggningen misslyckades", "Sign-in failed")}: ${error.message || error}`));
  } else if (target.tagName === "A" && target.getAttribute("href") === location.hash) {
    // The view already shown: show it afresh (no hashchange would).
    event.preventDefault();
    load();
  } else if (target.id === "lang-switch" && token !== null) {
    event.preventDefault();
    switchLanguage(target).catch((error) => showError(String(error.message || error)));
  }
});

window.addEventListener("hashchange", () => { if (location.hash.startsWith("#/")) load(); });
applySession();
