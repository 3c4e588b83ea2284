// The web console in a real browser: Debian's chromium (/usr/bin/chromium), headless,
// driven by playwright-core, against a running `cairn serve`; the real Deno client writes the
// data and makes the changes another user would. crates/cairn/tests/console_browser.rs runs it:
//
//   CAIRN_E2E_RW_TOKEN=… CAIRN_E2E_READ_ONLY_TOKEN=… CAIRN_E2E_DENO=<deno> \
//   CAIRN_E2E_SCREENSHOTS=<dir> node tests/e2e/console/console.mjs <url>
//
// Prints "ok <check>" per passing check and exits non-zero at the first failure. Every wait
// is for something on the page (bounded by WAIT_MS), never a fixed delay. Screenshots of each
// step go to CAIRN_E2E_SCREENSHOTS, for a person to look at.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const WAIT_MS = 30_000;
const url = process.argv[2];
const rw = process.env.CAIRN_E2E_RW_TOKEN;
const ro = process.env.CAIRN_E2E_READ_ONLY_TOKEN;
const deno = process.env.CAIRN_E2E_DENO;
const shots = process.env.CAIRN_E2E_SCREENSHOTS ?? path.join(tmpdir(), "cairn-console-screenshots");
if (!url || !rw || !ro || !deno) {
  console.error("usage: CAIRN_E2E_RW_TOKEN=… CAIRN_E2E_READ_ONLY_TOKEN=… CAIRN_E2E_DENO=… node console.mjs <url>");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
mkdirSync(shots, { recursive: true });

function ok(check) {
  console.log(`ok ${check}`);
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Runs an action of deno_client.ts with the real Deno runtime. */
function denoClient(action) {
  const out = execFileSync(deno, ["run", "-A", "--unstable-kv", path.join(here, "deno_client.ts"), url, action], {
    env: { ...process.env, DENO_KV_ACCESS_TOKEN: rw, DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  check(out.includes(`ok ${action}`), `deno_client ${action}: ${out}`);
}

/** A read through the JSON API (the truth the console must not have changed). */
async function apiGet(key) {
  const response = await fetch(`${url}/api/v1/databases/default/entry?key=${encodeURIComponent(JSON.stringify(key))}`, {
    headers: { authorization: `Bearer ${rw}` },
  });
  return { status: response.status, json: response.status === 200 ? await response.json() : null };
}

async function launch() {
  const profile = mkdtempSync(path.join(tmpdir(), "cairn-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("dialog", (d) => errors.push(`a dialog opened: ${d.message()}`));
  return { context, page, errors, profile };
}

async function signIn(page, token) {
  await page.goto(`${url}/console`);
  await page.fill("#token", token);
  await page.click("#sign-in-button");
  await page.locator("#db-name").filter({ hasText: "default" }).waitFor();
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`) });
}

/** Waits until the element's text contains `text`. */
async function waitText(page, selector, text) {
  await page.waitForFunction(
    ([s, t]) => document.querySelector(s)?.textContent.includes(t),
    [selector, text],
    { timeout: WAIT_MS },
  );
}

async function openKey(page, keyText) {
  await page.fill("#prefix-input", keyText);
  await page.click(".jump button");
}

denoClient("seed");
ok("the Deno client wrote 10,000 items and a V8 object");

const { context, page, errors, profile } = await launch();
try {
  // Sign in: a wrong token is refused, the right one shows the open database.
  await page.goto(`${url}/console`);
  await page.fill("#token", "not-a-token");
  await page.click("#sign-in-button");
  await waitText(page, "#sign-in-error", "does not know");
  await signIn(page, rw);
  check((await page.textContent("#db-access")) === "read-write", "access badge");
  await page.locator("#children li").first().waitFor();
  await shot(page, "01-signed-in");
  ok("sign in with a token; the open database is shown");

  // A prefix of 10,000 keys, a page at a time.
  await page.click('button.branch:text-is("▸ \\"items\\"")');
  await page.waitForFunction(() => document.querySelector("#children")?.dataset.shown === "100");
  check(await page.isVisible("#load-more"), "a further page is offered");
  await page.click("#load-more");
  await page.waitForFunction(() => document.querySelector("#children")?.dataset.shown === "200");
  check((await page.locator("#children li").count()) === 200, "two pages shown, not everything");
  await page.click("#count-button");
  await waitText(page, "#prefix-count", "10,000 keys");
  await shot(page, "02-items-paged");
  ok("browse a prefix of 10,000 keys, paged (200 shown), counted");

  // The V8 object Deno wrote, decoded.
  await page.click(".crumb >> nth=0");
  await page.click('button.branch:text-is("▸ \\"users\\"")');
  await page.click('[data-key=\'["users", "alice"]\']');
  await waitText(page, "#entry-value", "Alice");
  const literal = await page.textContent("#entry-value");
  for (const expected of [
    'name: "Alice"',
    'born: new Date("1990-01-02T03:04:05.000Z")',
    "score: 12345678901234567890n",
    'roles: new Set([',
    '["theme", "dark"]',
    "avatar: new Uint8Array([1, 2, 3])",
    "nickname: undefined",
    'city: "Lyon"',
  ]) {
    check(literal.includes(expected), `the JavaScript view shows ${expected}:\n${literal}`);
  }
  await shot(page, "03-deno-object");
  // The README's picture (docs/images/console.png is a copy of it).
  await page.screenshot({ path: path.join(shots, "readme-console.png"), clip: { x: 0, y: 0, width: 1400, height: 620 } });
  await page.click('[data-view="json"]');
  await waitText(page, "#entry-value", '"$type": "bigint"');
  await page.click('[data-view="js"]');
  ok("a V8 object written by Deno is decoded (Date, bigint, Set, Map, Uint8Array, undefined)");

  // Edit with a stale versionstamp: another client changes the entry meanwhile.
  await page.click("#edit-entry");
  denoClient("rename-alice");
  await page.fill("#entry-editor", JSON.stringify({ name: "Alice from the console" }));
  await page.click("#save-entry");
  await waitText(page, "#entry-notice", "Conflict");
  const notice = await page.textContent("#entry-notice");
  check(notice.includes("nothing was overwritten"), notice);
  const stored = await apiGet(["users", "alice"]);
  check(stored.json.value.name === "Alice Renamed", `Deno's write is intact: ${JSON.stringify(stored.json)}`);
  check((await page.inputValue("#entry-editor")).includes("Alice from the console"), "the edit is kept");
  await shot(page, "04-stale-edit-conflict");
  ok("an edit with a stale versionstamp shows a conflict and overwrites nothing");

  // Load the current version, then a fresh edit saves.
  await page.click("#load-current");
  await waitText(page, "#entry-value", "Alice Renamed");
  await page.click("#edit-entry");
  await page.fill("#entry-editor", JSON.stringify({ name: "Alice", score: { $type: "bigint", value: "42" } }));
  await page.click("#save-entry");
  await waitText(page, "#entry-notice", "Saved.");
  await waitText(page, "#entry-value", "score: 42n");
  const saved = await apiGet(["users", "alice"]);
  check(saved.json.value.score.value === "42", `saved as a bigint: ${JSON.stringify(saved.json)}`);
  ok("an edit on the current versionstamp saves typed values");

  // Another client's change appears through the watch.
  await page.click("#watch-entry");
  await waitText(page, "#entry-notice", "Watching");
  await page.locator('#watch-entry:text-is("Stop watching")').waitFor();
  denoClient("move-alice");
  await waitText(page, "#entry-value", 'city: "Paris"');
  await waitText(page, "#entry-notice", "Live:");
  await shot(page, "05-watch");
  ok("a change by the Deno client appears through the watch");

  // A prefix watch shows a new key.
  await page.click(".crumb >> nth=0");
  await page.click('button.branch:text-is("▸ \\"items\\"")');
  await page.click("#watch-prefix");
  await waitText(page, "#watch-log", "watching");
  denoClient("new-item");
  await waitText(page, "#watch-log", '["items", 10000]');
  ok("a prefix watch lists a key the Deno client added");

  // Delete, only while unchanged.
  await openKey(page, '["users", "alice"]');
  await waitText(page, "#entry-value", "Paris");
  await page.click("#delete-entry");
  await page.click("#confirm-delete");
  await waitText(page, "#entry-notice", "Deleted.");
  await page.locator("#entry-missing").waitFor();
  check((await apiGet(["users", "alice"])).status === 404, "deleted in the database");
  await shot(page, "06-deleted");
  ok("delete (with the versionstamp check) removes the entry");

  // Markup in a stored value stays text.
  await openKey(page, '["notes", "html"]');
  await waitText(page, "#entry-value", "<img src=x");
  check((await page.locator("#entry-value img, #entry-value b").count()) === 0, "no element from the value");
  check((await page.title()) === "cairn console", "no script from the value ran");
  ok("a value holding HTML is shown as text, never run");

  // Create, refused when the key exists.
  await page.click(".crumb >> nth=0");
  await openKey(page, '["notes", "new"]');
  await page.locator("#entry-missing").waitFor();
  await page.click("#create-here");
  await page.fill("#new-value", '{"$type": "Date", "value": "2024-05-01T12:00:00.000Z"}');
  await page.click("#create-entry");
  await waitText(page, "#entry-notice", "Created.");
  await waitText(page, "#entry-value", 'new Date("2024-05-01T12:00:00.000Z")');
  ok("create a typed value (If-None-Match: *)");
  check(errors.length === 0, `page errors: ${errors.join("; ")}`);
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

// A read-only token sees no edit controls.
const reader = await launch();
try {
  await signIn(reader.page, ro);
  check((await reader.page.textContent("#db-access")) === "read-only", "read-only badge");
  await openKey(reader.page, '["notes", "new"]');
  await waitText(reader.page, "#entry-value", "new Date(");
  for (const control of ["#edit-entry", "#delete-entry", "#new-entry", "#create-here"]) {
    check((await reader.page.locator(control).count()) === 0, `no ${control} for a read-only token`);
  }
  check(await reader.page.isVisible("#watch-entry"), "watching is reading");
  await shot(reader.page, "07-read-only");
  check(reader.errors.length === 0, `page errors: ${reader.errors.join("; ")}`);
  ok("a read-only token sees no edit controls");
} finally {
  await reader.context.close();
  rmSync(reader.profile, { recursive: true, force: true });
}
console.log(`screenshots in ${shots}`);
