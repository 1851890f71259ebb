// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core,
// against a running `anslut serve --demo` (started by tests/tests/system/dashboard.rs).
//
//   ANSLUT_URL=http://127.0.0.1:PORT [CHROMIUM=/usr/bin/chromium] [SCREENSHOTS=dir]
//   [ANSLUT_OIDC_URL=http://127.0.0.1:PORT2 OIDC_ISSUER=http://localhost:PORT3 OIDC_PORT=PORT3]
//   node dashboard.mjs
//
// Signs in through the page as several roles and checks that each page renders its data, a
// provider sees only its own organisation, a dashboard role sees no personal data, the
// Content-Security-Policy holds (no console errors, no violations; an injected inline style is
// refused) and `/` answers the dashboard. With ANSLUT_OIDC_URL it first starts oidc-provider
// (issuer.mjs) on OIDC_PORT, and at the end signs in at it on that second instance (which
// verifies the provider's tokens with the provider's /jwks). Prints one JSON line per page
// load with its time, then `{"ok":true}`; exits non-zero with the failures otherwise.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

import { startIssuer } from "./issuer.mjs";

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

// The OpenID Provider (issuer.mjs) answers before the second instance starts: that instance
// fetches its keys from the provider's /jwks at start (tests/tests/system/dashboard.rs waits
// for them).
const oidcBase = process.env.ANSLUT_OIDC_URL;
const idp = oidcBase
  ? await startIssuer({
    issuer: process.env.OIDC_ISSUER,
    port: Number(process.env.OIDC_PORT),
    redirectUri: `${oidcBase}/dashboard/callback`,
  })
  : null;

// Until the second instance answers (it starts once the provider's keys are served).
async function serverUp(url) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

// A fresh page on the OpenID instance that records console errors (the pop-up's too), CSP
// violations, every request to the provider (the pop-up's and the page's) and each answer
// the provider refused, and the bearer tokens the page sends to the server.
async function oidcPage(who) {
  const context = await browser.newContext({ locale: "sv-SE" });
  const page = await context.newPage();
  const session = { who, page, context, problems: [], toIssuer: [], refused: [], bearers: [] };
  page.on("console", (message) => {
    if (message.type() === "error") session.problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => session.problems.push(`page error: ${error.message}`));
  context.on("page", (popup) => popup.on("console", (message) => {
    if (message.type() === "error") session.problems.push(`pop-up console: ${message.text()}`);
  }));
  context.on("request", (request) => {
    if (request.url().startsWith(process.env.OIDC_ISSUER)) session.toIssuer.push(request.url());
    const bearer = request.headers().authorization;
    if (bearer?.startsWith("Bearer ") && request.url().startsWith(oidcBase)) session.bearers.push(bearer.slice(7));
  });
  context.on("response", (response) => {
    if (response.url().startsWith(process.env.OIDC_ISSUER) && response.status() >= 400) {
      session.refused.push(`${response.status()} ${response.url()}`);
    }
  });
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (event) => window.__violations.push(event.violatedDirective));
  });
  await page.goto(`${oidcBase}/`);
  return session;
}

// Signs in at the provider as a person would: the shell's button opens the pop-up, which
// shows the provider's login page (any password), then its consent page; the pop-up goes to
// the dashboard's callback and closes; the shell then loads the pipeline.
async function oidcSignIn(session, login) {
  const { page, context } = session;
  const before = { authorizations: idp.seen.authorizations.length, tokens: idp.seen.tokens };
  const ms = await navigate(page, "pipeline", async () => {
    const opened = context.waitForEvent("page");
    await page.click("#oidc-signin");
    const popup = await opened;
    await popup.waitForSelector("input[name=login]");
    await popup.fill("input[name=login]", login);
    await popup.fill("input[name=password]", "any password");
    await popup.click("button[type=submit]");
    await popup.waitForSelector("input[name=prompt][value=consent]", { state: "attached" });
    const closed = popup.waitForEvent("close");
    await popup.click("button[type=submit]", { noWaitAfter: true }).catch((error) => {
      if (!popup.isClosed()) throw error;
    });
    await closed;
  });
  record(session, "OpenID sign-in, then pipeline", ms);
  // PKCE was used: the authorization request the browser sent, and the one the provider took.
  const requests = session.toIssuer
    .map((url) => new URL(url))
    .filter((url) => url.pathname === "/auth" && url.searchParams.has("client_id"));
  check(requests.length === 1, `${login}: ${requests.length} authorization requests`);
  for (const url of requests) {
    check(url.searchParams.get("code_challenge_method") === "S256" && url.searchParams.get("code_challenge"),
      `${login}: the authorization request without PKCE S256: ${url}`);
  }
  const accepted = idp.seen.authorizations.slice(before.authorizations);
  check(accepted.length === 1 && accepted[0].code_challenge_method === "S256",
    `${login}: the provider accepted ${JSON.stringify(accepted)}`);
  check(idp.seen.tokens === before.tokens + 1, `${login}: ${idp.seen.tokens - before.tokens} access tokens issued`);
  check(session.refused.length === 0, `${login}: the provider answered ${session.refused.join("; ")}`);
  check(idp.seen.rejected.length === 0, `${login}: the provider refused ${idp.seen.rejected.join("; ")}`);
}

// Nothing in the dashboard origin's web storage or cookies (the provider's session cookies
// belong to its own site).
async function nothingStored(session) {
  const { page, context } = session;
  const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
  check(stored[0] === 0 && stored[1] === 0 && stored[2] === "", `${session.who}: something was stored: ${stored}`);
  const cookies = await context.cookies(oidcBase);
  check(cookies.length === 0, `${session.who}: cookies for the dashboard: ${cookies.map((c) => c.name)}`);
}

// Sign-in at oidc-provider: authorization code with PKCE in a pop-up, the token in memory
// only, then the views as that officer; the development sign-in is not offered. Then another
// region's officer, whose token does not show this region's cases, and that token with its
// region changed, which the server refuses.
async function oidc() {
  await serverUp(`${oidcBase}/`);
  const session = await oidcPage("oidc-officer");
  const { page } = session;
  check(!(await page.$("#dev-signin")), "oidc: no development sign-in");
  const dev = (await fetch(`${oidcBase}/dashboard/dev-token`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ role: "officer", region: JAMTLAND }),
  })).status;
  check(dev === 404, `oidc: the development token endpoint answered ${dev}`);
  await oidcSignIn(session, "oidc-officer");
  check((await page.textContent("#who")).includes("officer"), "oidc: signed in as the officer");
  const cases = await show(session, "cases");
  check(cases.includes(OSTERSUND) && cases.includes(FROSO), "oidc: the officer's cases");
  await nothingStored(session);
  await finish(session);

  // Another region's officer, signed in at the same provider: not this region's cases.
  const other = await oidcPage("oidc-varmland-officer");
  await oidcSignIn(other, "oidc-varmland-officer");
  const theirs = await show(other, "cases");
  check(!theirs.includes(OSTERSUND) && !theirs.includes(FROSO), "oidc: Värmland's officer sees Jämtland's cases");
  await nothingStored(other);
  const token = other.bearers.at(-1) || "";
  const [head, body, signature] = token.split(".");
  const claims = JSON.parse(Buffer.from(body || "", "base64url").toString() || "{}");
  check(claims.region === "varmland" && claims.aud === "anslut" && claims.iss === process.env.OIDC_ISSUER,
    `oidc: the provider's token: ${JSON.stringify(claims)}`);
  const api = (bearer) => fetch(`${oidcBase}/v1/cases`, { headers: { Authorization: `Bearer ${bearer}` } })
    .then((response) => response.status);
  check((await api(token)) === 200, "oidc: the provider's token is accepted by the API");
  const tampered = Buffer.from(JSON.stringify({ ...claims, region: JAMTLAND })).toString("base64url");
  const refused = await api(`${head}.${tampered}.${signature}`);
  check(refused === 401, `oidc: a token with its region changed answered ${refused}`);
  await finish(other);
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

  if (idp) await oidc();
} catch (error) {
  failures.push(`the run stopped: ${error.stack || error}`);
} finally {
  await browser.close();
  await idp?.close();
}

if (failures.length > 0) {
  console.log(JSON.stringify({ ok: false, failures }));
  process.exit(1);
}
console.log(JSON.stringify({ ok: true, loads: loads.length }));
