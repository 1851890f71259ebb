// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core,
// against a running `anslut serve --demo` (started by tests/tests/system/dashboard.rs).
//
//   ANSLUT_URL=http://127.0.0.1:PORT [CHROMIUM=/usr/bin/chromium] [SCREENSHOTS=dir] node dashboard.mjs
//
// Signs in through the page as several roles and checks that each page renders its data, a
// provider sees only its own organisation, a dashboard role sees no personal data, the
// Content-Security-Policy holds (no console errors, no violations; an injected inline style is
// refused) and `/` answers the dashboard. Prints one JSON line per page load with its time,
// then `{"ok":true}`; exits non-zero with the failures otherwise.

import { chromium } from "playwright-core";
import { createHash, randomBytes, sign } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";

const base = process.env.ANSLUT_URL;
if (!base) throw new Error("set ANSLUT_URL");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const screenshots = process.env.SCREENSHOTS || "";
if (screenshots) mkdirSync(screenshots, { recursive: true });

const JAMTLAND = "jamtland-harjedalen";
const OSTERSUND = "Östersundshälsan Vårdcentral";
const FROSO = "Frösö Hälsocentral";
// The demo's personal data: a staff member's name, HSA-id and personnummer; contact names.
const PERSONAL = ["Per Olsson", "SE5566778899-K7Q2", "19811218", "Karin Lindqvist", "Jonas Ek"];
const VIEWS = ["pipeline", "cases", "findings", "incidents", "compliance", "staff", "costs"];

const failures = [];
const loads = [];

function check(condition, message) {
  if (!condition) failures.push(message);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});

// A fresh page (no shared state: the token lives in the page's memory) that records console
// errors, page errors and CSP violations.
async function openPage(who, path = "/") {
  const context = await browser.newContext({ locale: "en-US" });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
  const started = performance.now();
  const response = await page.goto(base + path);
  const session = { who, page, context, problems, response };
  record(session, `the shell (${path})`, performance.now() - started);
  return session;
}

// Does `action` and waits until the page has loaded a new fragment of `view` (the script
// counts its loads in `main[data-loads]`); the time from the action to the fragment on the page.
async function navigate(page, view, action) {
  const before = await page.getAttribute("main", "data-loads");
  const started = performance.now();
  await action();
  await page.waitForFunction(
    ([b, v]) => {
      const main = document.getElementById("main");
      return main.dataset.loads !== b && main.dataset.view === v && !main.hasAttribute("aria-busy");
    },
    [before, view],
  );
  return performance.now() - started;
}

function record(session, view, ms, serverMs) {
  const entry = { role: session.who, view, ms: Math.round(ms) };
  if (serverMs !== undefined) entry.fetch_and_render_ms = serverMs;
  loads.push(entry);
  console.log(JSON.stringify({ load: entry }));
}

async function signIn(session, role, region, org) {
  const { page } = session;
  await page.selectOption("#role", role);
  await page.selectOption("#region", region);
  if (org) await page.fill("#org", org);
  const ms = await navigate(page, "pipeline", () => page.click("#dev-signin button[type=submit]"));
  record(session, "sign-in, then pipeline", ms);
}

// Opens a view through its navigation link (keyboard: focus, Enter) and times it until the
// fragment is in the page; the main element's text.
async function show(session, view) {
  const { page } = session;
  const ms = await navigate(page, view, async () => {
    await page.focus(`nav a[href="#/${view}"]`);
    await page.keyboard.press("Enter");
  });
  record(session, view, ms, Number(await page.getAttribute("main", "data-load-ms")));
  for (const issue of await page.evaluate(accessibility)) failures.push(`${session.who} ${view}: ${issue}`);
  if (screenshots) await page.screenshot({ path: join(screenshots, `${session.who}-${view}.png`), fullPage: true });
  return page.textContent("main");
}

// What the page must give assistive technology: labelled controls, named links and buttons,
// tables with header cells, charts as titled images, one heading per view. Runs in the page.
function accessibility() {
  const issues = [];
  const visible = (el) => !el.closest("[hidden]");
  for (const control of document.querySelectorAll("select, input, textarea")) {
    if (visible(control) && control.labels.length === 0 && !control.getAttribute("aria-label")) issues.push(`unlabelled ${control.outerHTML.slice(0, 60)}`);
  }
  for (const el of document.querySelectorAll("a, button")) {
    if (visible(el) && !(el.textContent.trim() || el.getAttribute("aria-label"))) issues.push(`unnamed ${el.outerHTML.slice(0, 60)}`);
  }
  for (const table of document.querySelectorAll("main table")) {
    if (!table.querySelector("th")) issues.push("a table without header cells");
    if (!table.querySelector("caption")) issues.push("a table without a caption");
    for (const th of table.querySelectorAll("th")) if (!th.getAttribute("scope") && !th.closest("tfoot")) issues.push(`th without scope: ${th.textContent}`);
  }
  for (const svg of document.querySelectorAll("main svg")) {
    const title = document.getElementById(svg.getAttribute("aria-labelledby") || "");
    if (svg.getAttribute("role") !== "img" || !title || !title.textContent.trim()) issues.push("a chart without a title");
  }
  if (document.querySelectorAll("main h1").length !== 1) issues.push("not one h1 in the view");
  return issues;
}

// No CSP violation and no console error so far.
async function clean(session) {
  const violations = await session.page.evaluate(() => window.__violations);
  check(violations.length === 0, `${session.who}: CSP violations: ${violations.join("; ")}`);
  check(session.problems.length === 0, `${session.who}: ${session.problems.join("; ")}`);
}

async function finish(session) {
  await clean(session);
  await session.context.close();
}

// A stand-in OpenID Connect issuer on OIDC_PORT: discovery, an authorization endpoint that
// approves at once (redirecting with a code), and a token endpoint that checks the PKCE
// verifier against the challenge and answers an access token signed with OIDC_KEY (RS256,
// kid OIDC_KID), which the server under test verifies with its JWKS file.
function issuer() {
  const origin = `http://127.0.0.1:${process.env.OIDC_PORT}`;
  const key = readFileSync(process.env.OIDC_KEY);
  const codes = new Map();
  const seen = { authorized: 0, exchanged: 0 };
  const b64url = (data) => Buffer.from(data).toString("base64url");
  const jwt = (claims) => {
    const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: process.env.OIDC_KID }));
    const body = b64url(JSON.stringify(claims));
    return `${head}.${body}.${sign("sha256", Buffer.from(`${head}.${body}`), key).toString("base64url")}`;
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url, origin);
    const cors = { "Access-Control-Allow-Origin": req.headers.origin || "*", "Content-Type": "application/json" };
    if (url.pathname === "/.well-known/openid-configuration") {
      res.writeHead(200, cors);
      res.end(JSON.stringify({
        issuer: origin, authorization_endpoint: `${origin}/authorize`, token_endpoint: `${origin}/token`,
        response_types_supported: ["code"], code_challenge_methods_supported: ["S256"],
      }));
    } else if (url.pathname === "/authorize") {
      const p = url.searchParams;
      if (p.get("client_id") !== "anslut-dashboard" || p.get("code_challenge_method") !== "S256"
        || p.get("response_type") !== "code" || !p.get("code_challenge") || !p.get("state")) {
        res.writeHead(400); res.end("bad request"); return;
      }
      const code = randomBytes(16).toString("hex");
      codes.set(code, { challenge: p.get("code_challenge"), redirect: p.get("redirect_uri") });
      seen.authorized += 1;
      const back = new URL(p.get("redirect_uri"));
      back.search = new URLSearchParams({ code, state: p.get("state") }).toString();
      res.writeHead(302, { Location: back.toString() });
      res.end();
    } else if (url.pathname === "/token" && req.method === "POST") {
      let body = "";
      req.on("data", (chunk) => { body += chunk; });
      req.on("end", () => {
        const p = new URLSearchParams(body);
        const grant = codes.get(p.get("code"));
        codes.delete(p.get("code"));
        const challenge = createHash("sha256").update(p.get("code_verifier") || "").digest("base64url");
        if (!grant || grant.challenge !== challenge || grant.redirect !== p.get("redirect_uri")
          || p.get("client_id") !== "anslut-dashboard" || p.get("grant_type") !== "authorization_code") {
          res.writeHead(400, cors); res.end(JSON.stringify({ error: "invalid_grant" })); return;
        }
        seen.exchanged += 1;
        const now = Math.floor(Date.now() / 1000);
        res.writeHead(200, cors);
        res.end(JSON.stringify({
          token_type: "Bearer", expires_in: 600,
          access_token: jwt({ sub: "oidc-officer", iss: origin, aud: "anslut", exp: now + 600, nbf: now, iat: now,
            role: "officer", region: JAMTLAND }),
        }));
      });
    } else {
      res.writeHead(404); res.end();
    }
  });
  return { server, seen, listening: new Promise((resolve) => server.listen(Number(process.env.OIDC_PORT), "127.0.0.1", resolve)) };
}

// Sign-in at the stand-in issuer: authorization code with PKCE in a pop-up, the token in
// memory only, then the views as that officer; the development sign-in is not offered.
async function oidc() {
  const idp = issuer();
  await idp.listening;
  try {
    const context = await browser.newContext({ locale: "sv-SE" });
    const page = await context.newPage();
    const session = { who: "oidc-officer", page, context, problems: [] };
    page.on("console", (message) => {
      if (message.type() === "error") session.problems.push(`console: ${message.text()}`);
    });
    page.on("pageerror", (error) => session.problems.push(`page error: ${error.message}`));
    context.on("page", (popup) => popup.on("console", (message) => {
      if (message.type() === "error") session.problems.push(`pop-up console: ${message.text()}`);
    }));
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener("securitypolicyviolation", (event) => window.__violations.push(event.violatedDirective));
    });
    const oidcBase = process.env.ANSLUT_OIDC_URL;
    await page.goto(`${oidcBase}/`);
    check(!(await page.$("#dev-signin")), "oidc: no development sign-in");
    const dev = (await fetch(`${oidcBase}/dashboard/dev-token`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ role: "officer", region: JAMTLAND }),
    })).status;
    check(dev === 404, `oidc: the development token endpoint answered ${dev}`);
    const ms = await navigate(page, "pipeline", () => page.click("#oidc-signin"));
    record(session, "OpenID sign-in, then pipeline", ms);
    check(idp.seen.authorized === 1 && idp.seen.exchanged === 1, `oidc: ${JSON.stringify(idp.seen)}`);
    check((await page.textContent("#who")).includes("officer"), "oidc: signed in as the officer");
    const cases = await show(session, "cases");
    check(cases.includes(OSTERSUND) && cases.includes(FROSO), "oidc: the officer's cases");
    const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
    check(stored[0] === 0 && stored[1] === 0 && stored[2] === "", `oidc: something was stored: ${stored}`);
    await finish(session);
  } finally {
    idp.server.close();
  }
}

try {
  // `/` is the dashboard, under the policy.
  const officer = await openPage("officer", "/?lang=sv");
  check(officer.response.status() === 200, `/ answered ${officer.response.status()}`);
  const csp = officer.response.headers()["content-security-policy"] || "";
  check(csp.startsWith("default-src 'none'") && !csp.includes("unsafe"), `the policy: ${csp}`);
  check((await officer.page.textContent("h1")) === "Logga in", "the Swedish sign-in heading");
  await officer.page.keyboard.press("Tab");
  check(await officer.page.evaluate(() => document.activeElement.classList.contains("skip")), "the skip link is the first stop");
  for (const issue of await officer.page.evaluate(accessibility)) if (!issue.startsWith("not one h1")) failures.push(`sign-in: ${issue}`);
  if (screenshots) await officer.page.screenshot({ path: join(screenshots, "signin.png") });
  await signIn(officer, "officer", JAMTLAND);

  // The officer: every page with its data.
  const texts = {};
  for (const view of VIEWS) texts[view] = await show(officer, view);
  check(texts.pipeline.includes("Ärenden per fas") && texts.pipeline.includes(OSTERSUND), "pipeline: phases and lead times");
  check(texts.cases.includes(OSTERSUND) && texts.cases.includes(FROSO), "cases: both Jämtland cases");
  check(texts.cases.includes("demand 1 is open"), "cases: the open demand blocks");
  check(texts.findings.includes("JHV-030"), "findings: the open demand");
  check(texts.incidents.includes("Säkerhetsincidenter"), "incidents: the page");
  check(texts.compliance.includes("JHV-"), "compliance: the heat map's requirements");
  check(texts.staff.includes("Per Olsson") && texts.staff.includes("Sekretesserinran"), "staff: the officer sees the name and what is missing");
  check(texts.costs.includes("kr") && texts.costs.includes(OSTERSUND), "costs: Jämtland's estimates");

  await show(officer, "pipeline");
  check((await officer.page.$$("main svg.chart")).length >= 3, "pipeline: phases, medians and lead time charts");

  // Filter the cases: suspended only.
  await show(officer, "cases");
  await officer.page.selectOption("#f-phase", "suspended");
  record(officer, "cases, filtered", await navigate(officer.page, "cases", () => officer.page.click("form.filters button[type=submit]")));
  check(await officer.page.$("#f-phase option[value=suspended][selected]"), "cases: the filter shown as chosen");
  const suspended = await officer.page.textContent("main");
  check(suspended.includes(FROSO) && !suspended.includes(OSTERSUND), "cases: the phase filter");

  // A case's history: each event's actor and reason.
  await show(officer, "cases");
  record(officer, "history", await navigate(officer.page, "history", () => officer.page.click(`main a:has-text("${OSTERSUND}")`)));
  if (screenshots) await officer.page.screenshot({ path: join(screenshots, "officer-history.png"), fullPage: true });
  const history = await officer.page.textContent("main");
  check(history.includes("ApplicationSubmitted") && history.includes("Aktör") && history.includes("Skäl"), "history: events, actors, reasons");
  const rows = await officer.page.$$("main table.history tbody tr");
  check(rows.length >= 5, `history: ${rows.length} events`);

  // The language switch keeps the session.
  await navigate(officer.page, "history", () => officer.page.click("#lang-switch"));
  check((await officer.page.getAttribute("html", "lang")) === "en", "the page is in English");
  check((await officer.page.textContent("main")).includes("Actor"), "English labels after the switch");
  check(await officer.page.isVisible('nav a[href="#/cases"]:has-text("Cases")'), "English navigation");

  // The policy holds: an inline style is refused and reported.
  await clean(officer);
  await officer.page.evaluate(() => {
    document.getElementById("main").insertAdjacentHTML("beforeend", '<p id="styled" style="color: rgb(255, 0, 0)">x</p>');
  });
  await officer.page.waitForTimeout(200);
  const color = await officer.page.$eval("#styled", (p) => getComputedStyle(p).color);
  check(color !== "rgb(255, 0, 0)", "an inline style is not applied");
  const refused = await officer.page.evaluate(() => window.__violations.length);
  check(refused > 0, "the refused inline style is reported");

  // Sign out: nothing left on the page.
  await officer.page.click("#signout");
  check(await officer.page.isVisible("#signin") && (await officer.page.textContent("main")) === "", "signed out");
  await officer.context.close();

  // A provider: its own organisation only, on every page.
  const provider = await openPage("provider");
  await signIn(provider, "provider", JAMTLAND, "556677-8899");
  for (const view of VIEWS) {
    const text = await show(provider, view);
    check(!text.includes(FROSO) && !text.includes("559412-3787"), `provider ${view}: another organisation`);
  }
  check((await show(provider, "cases")).includes(OSTERSUND), "provider: its own case");
  await finish(provider);

  // The dashboard role: the same pages, no personal data anywhere, histories included.
  const dashboard = await openPage("dashboard");
  await signIn(dashboard, "dashboard", JAMTLAND);
  for (const view of VIEWS) {
    const text = await show(dashboard, view);
    for (const needle of PERSONAL) check(!text.includes(needle), `dashboard ${view} shows ${needle}`);
  }
  const staff = await show(dashboard, "staff");
  check(staff.includes("withheld from your role"), "dashboard staff: withheld");
  await show(dashboard, "cases");
  const links = await dashboard.page.$$eval("main table.cases th a", (as) => as.map((a) => a.getAttribute("href")));
  check(links.length === 2, `dashboard: ${links.length} cases`);
  for (const href of links) {
    await navigate(dashboard.page, "history", () => dashboard.page.evaluate((h) => { location.hash = h; }, href));
    const text = await dashboard.page.textContent("main");
    for (const needle of PERSONAL) check(!text.includes(needle), `dashboard history ${href} shows ${needle}`);
  }
  await finish(dashboard);

  // Värmland's officer: the incident and its time to assessment.
  const varmland = await openPage("varmland-officer");
  await signIn(varmland, "officer", "varmland");
  const incidents = await show(varmland, "incidents");
  check(incidents.includes("Phishing e-mail opened"), "incidents: Värmland's incident");
  check(/\d+ h \d\d min/.test(incidents), "incidents: time to assessment");
  await finish(varmland);

  if (process.env.ANSLUT_OIDC_URL) await oidc();
} catch (error) {
  failures.push(`the run stopped: ${error.stack || error}`);
} finally {
  await browser.close();
}

if (failures.length > 0) {
  console.log(JSON.stringify({ ok: false, failures }));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, loads: loads.length }));
