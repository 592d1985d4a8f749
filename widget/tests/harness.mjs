// The browser-test harness: a real candor (the binary, a fresh instance folder), a tiny host
// site on another origin, and Debian's Chromium driven by playwright-core. Nothing of
// candor is mocked. Shared by every browser test file (widget, /privacy, /me).
//
//   const host = await startHost();                      // or hostPage(html), on a shared host
//   const candor = await startCandor({ origins: [host.origin] });
//   const browser = await launchBrowser();
//   const { page } = await newPage(browser);
//   await page.goto(host.page(widgetPage(candor)));
//   await screenshot(page, 'banner');
//   assert.deepEqual(await axeCheck(page), []);

import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

export const WIDGET_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = path.resolve(WIDGET_DIR, '..');
export const SCREENSHOT_DIR = path.join(REPO_ROOT, 'target', 'screenshots');
export const ADMIN_PASSWORD = 'browser-test-admin-password';

/** The candor binary: $CANDOR_BIN, else target/debug/candor (under $CARGO_TARGET_DIR if set). */
export function candorBin() {
  if (process.env.CANDOR_BIN) return path.resolve(process.env.CANDOR_BIN);
  const target = process.env.CARGO_TARGET_DIR ? path.resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : path.join(REPO_ROOT, 'target');
  return path.join(target, 'debug', 'candor');
}

/** A TCP port nobody listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The environment for candor commands: ours, minus any CANDOR_* that could point elsewhere. */
function candorEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CANDOR_')));
  return Object.assign(env, { CANDOR_ADMIN_PASSWORD: ADMIN_PASSWORD, CANDOR_LOG: 'warn' }, extra);
}

/** Runs the candor binary; resolves to stdout, rejects with stderr on a non-zero exit. */
export function runCandor(args, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(candorBin(), args, { env: candorEnv(env), maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`candor ${args.join(' ')} failed (${err.code}):\n${stderr}${stdout}`));
      else resolve(stdout);
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const running = new Set();
const folders = new Set();
process.on('exit', () => {
  running.forEach((child) => child.kill('SIGKILL'));
  folders.forEach((dir) => rmSync(dir, { recursive: true, force: true }));
});

/**
 * A fresh candor instance (`candor init`), its catalog's `allowed_origins` set to `origins`
 * and republished, served by `candor serve` on a free port. Call `stop()` when done.
 */
export async function startCandor({ origins } = {}) {
  if (!origins) origins = [(await sharedHost()).origin];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'candor-browser-'));
  folders.add(dir);
  await runCandor(['init', dir]);
  const catalogPath = path.join(dir, 'candor.toml');

  const candor = {
    dir,
    catalogPath,
    url: null,
    origin: null,
    log: '',
    /** Runs a candor command against this instance (`--dir` added). */
    cli: (args) => runCandor(['--dir', dir, ...args]),
    /** Rewrites candor.toml with `edit(text)` and publishes it; resolves once the server serves the new version. */
    async editCatalog(edit) {
      const before = candor.url ? (await candor.get('/v1/notice')).body.version : null;
      await writeFile(catalogPath, edit(await readFile(catalogPath, 'utf8')));
      const out = await candor.cli(['notice', 'publish']);
      if (candor.url) {
        for (let i = 0; i < 100 && (await candor.get('/v1/notice')).body.version === before; i++) await sleep(50);
      }
      return out;
    },
    /** Creates an API key with these scopes and returns it. */
    async createKey(...scopes) {
      return (await candor.cli(['keys', 'create', ...scopes.flatMap((s) => ['--scope', s]), '--name', 'browser-test'])).trim();
    },
    async get(p, key) {
      const res = await fetch(candor.url + p, { headers: key ? { authorization: `Bearer ${key}` } : {} });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, body: safeJson(text) };
    },
    async post(p, body, key) {
      const headers = { 'content-type': 'application/json' };
      if (key) headers.authorization = `Bearer ${key}`;
      const res = await fetch(candor.url + p, { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, body: safeJson(text) };
    },
    process: null,
    async stop() {
      if (candor.process && candor.process.exitCode === null) {
        const exited = new Promise((r) => candor.process.once('exit', r));
        candor.process.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
        if (candor.process.exitCode === null) candor.process.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
      folders.delete(dir);
    },
  };

  const toml = await readFile(catalogPath, 'utf8');
  const rewritten = toml.replace(/^allowed_origins\s*=.*$/m, `allowed_origins = ${JSON.stringify(origins)}`);
  if (rewritten === toml && origins.length) throw new Error('candor.toml has no allowed_origins line to rewrite');
  await writeFile(catalogPath, rewritten);
  await candor.cli(['notice', 'publish']);

  const port = await freePort();
  candor.url = `http://127.0.0.1:${port}`;
  candor.origin = candor.url;
  const child = spawn(candorBin(), ['serve', '--dir', dir, '--listen', `127.0.0.1:${port}`], { env: candorEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  candor.process = child;
  // A test file that forgets stop() must still exit, and never leave a server behind.
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.unref();
  child.stdout.unref();
  child.stderr.unref();
  const keep = (chunk) => { candor.log = (candor.log + chunk).slice(-20000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`candor serve exited (${child.exitCode}):\n${candor.log}`);
    try {
      if ((await fetch(`${candor.url}/readyz`)).ok) break;
    } catch { /* not listening yet */ }
    if (i > 300) throw new Error(`candor serve did not become ready:\n${candor.log}`);
    await sleep(50);
  }
  return candor;
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * A tiny web server for host pages on its own origin. `page(html)` serves a page and returns
 * its URL; `serve(path, body, type)` serves anything else. Every request path is counted in `hits`.
 */
export async function startHost() {
  const routes = new Map();
  const hits = new Map();
  let n = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://host');
    hits.set(url.pathname, (hits.get(url.pathname) || 0) + 1);
    const route = routes.get(url.pathname);
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': route.type, 'cache-control': 'no-store' });
    res.end(route.body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref(); // never what keeps a test process alive
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin,
    hits,
    serve(p, body, type = 'text/html; charset=utf-8') {
      routes.set(p, { body, type });
      return origin + p;
    },
    page(html) {
      return this.serve(`/page/${++n}`, html);
    },
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }),
  };
}

let shared = null;
/** One host server per test process, started on first use. */
export function sharedHost() {
  shared = shared || startHost();
  return shared;
}

/** Serves `html` on the shared host and returns its URL. */
export async function hostPage(html) {
  return (await sharedHost()).page(html);
}

/** Closes the shared host, if one was started. */
export async function closeSharedHost() {
  if (shared) await (await shared).close();
  shared = null;
}

/** Debian's Chromium, headless, without background traffic. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A fresh context (own storage) and page. `page.requests` lists every URL the page asked
 * for, `page.errors` every uncaught error. `gpc: true` sets navigator.globalPrivacyControl.
 */
export async function newPage(browser, { gpc = false, viewport = { width: 1280, height: 800 }, locale = 'en-US', bypassCSP = false } = {}) {
  // bypassCSP lets axe-core be injected into candor's own pages, whose CSP forbids inline scripts.
  const context = await browser.newContext({ viewport, locale, bypassCSP });
  if (gpc) {
    await context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true }));
  }
  const page = await context.newPage();
  page.requests = [];
  page.errors = [];
  page.on('request', (r) => page.requests.push(r.url()));
  page.on('pageerror', (e) => page.errors.push(e));
  return { context, page };
}

/** Writes a PNG to target/screenshots/NAME.png (of `target`, a locator, or the page). */
export async function screenshot(page, name, target) {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await (target || page).screenshot({ path: file, animations: 'disabled' });
  return file;
}

const require = createRequire(import.meta.url);
const AXE_PATH = require.resolve('axe-core/axe.min.js');

/**
 * Runs axe-core on the page (shadow roots included) and returns its serious and critical
 * violations as `{id, impact, help, targets}`; an accessible page gives [].
 */
export async function axeCheck(page, { include } = {}) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const violations = await page.evaluate(async (inc) => {
    const result = await window.axe.run(inc ? { include: inc } : document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target) }));
  }, include || null);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

/**
 * A plain shop page embedding the widget as a customer's site would. `origin` is the candor
 * origin the widget talks to, `src` where widget.js comes from (both default to candor's).
 */
export function widgetPage(candor, { lang = 'en', head = '', body = '', origin, src } = {}) {
  const base = origin || `${candor.url}/`;
  const script = src || `${candor.url}/widget.js`;
  const de = lang.startsWith('de');
  const products = de
    ? [['Trekkingrucksack 40 L', '129,00 €'], ['Regenjacke Sturm', '189,00 €'], ['Zelt Leicht 2', '249,00 €']]
    : [['Trekking pack 40 L', '€129.00'], ['Storm rain jacket', '€189.00'], ['Ultralight tent 2P', '€249.00']];
  return `<!doctype html>
<html lang="${escapeHtml(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Outdoor</title>
<style>
  body { margin: 0; font-family: Georgia, serif; background: #f4f1ea; color: #222; }
  header { background: #27452f; color: #fff; padding: 18px 40px; display: flex; justify-content: space-between; align-items: center; }
  header a { color: #fff; }
  main { padding: 32px 40px; }
  @media (max-width: 600px) { header, main { padding-left: 20px; padding-right: 20px; } }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 24px; }
  .card { background: #fff; border-radius: 6px; padding: 18px; box-shadow: 0 1px 3px rgba(0,0,0,.1); }
  .img { height: 150px; background: linear-gradient(135deg, #c9d6c3, #8fa98a); border-radius: 4px; margin-bottom: 12px; }
  /* Host styles that would wreck an unscoped widget: */
  button { background: hotpink !important; font-size: 30px !important; border-radius: 0 !important; }
  p, h2, ul, li, label, input { color: red !important; font-family: "Comic Sans MS", cursive !important; margin: 40px !important; }
</style>
${head}
<script src="${escapeHtml(script)}" data-candor-origin="${escapeHtml(base)}"></script>
</head>
<body>
<header><strong>Acme Outdoor</strong><nav><a href="#" data-candor-open>${de ? 'Datenschutz-Einstellungen' : 'Privacy choices'}</a></nav></header>
<main>
<h1 id="shop-title">${de ? 'Neu für den Herbst' : 'New for autumn'}</h1>
<div class="grid">${products.map(([name, price]) => `<div class="card"><div class="img"></div><strong>${name}</strong><div>${price}</div></div>`).join('')}</div>
${body}
</main>
</body>
</html>`;
}
