// Widget benchmark: gzipped size, and the time from navigation start to the banner being
// visible for a first-time visitor, candor's widget beside Klaro (npm `klaro`, dist/klaro.js,
// configured with the same three consent purposes), measured in the same run, same method.
//
//   cd widget && node bench/widget-bench.mjs [--runs 21]
//
// Uses the candor binary of the browser tests ($CANDOR_BIN, else target/debug/candor; a
// release build gives the figures of BENCHMARKS.md) and /usr/bin/chromium.
//
// Method: an init script (before any page script) watches the document and every shadow root
// with a MutationObserver; when the banner element first exists with a layout box, it asks
// for the next animation frame and records performance.now() there: the frame that paints
// the banner, in ms since navigation start. Each run is a fresh browser context (new visitor,
// empty cache); the variants alternate so that drift hits all alike. Variants: candor as
// documented (widget.js arrives with the current notice: one request); Klaro; and a floor (a
// banner inserted by an inline script, no network) showing what this machine can do at best.
// The floor row also gives, from Navigation Timing, when the page itself had arrived and when
// its DOM was interactive. Sizes: widget/widget.js, and the script as candor serves it (with
// the example notice).

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import { WIDGET_DIR, candorBin, launchBrowser, startCandor, startHost, widgetPage } from '../tests/harness.mjs';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 21;
if (!(RUNS >= 15)) throw new Error('use at least 15 runs');

const require = createRequire(import.meta.url);
const klaroPath = require.resolve('klaro/dist/klaro.js');
const klaroVersion = require('klaro/package.json').version;
const widgetSrc = await readFile(path.join(WIDGET_DIR, 'widget.js'));
const klaroSrc = await readFile(klaroPath);
const gz = (buf) => zlib.gzipSync(buf, { level: 9 }).length;

const host = await startHost();
const candor = await startCandor({ origins: [host.origin] });
const browser = await launchBrowser();
const servedSrc = Buffer.from(await (await fetch(`${candor.url}/widget.js`)).arrayBuffer());

// Klaro with the same three consent purposes as candor's example catalog, from the same host.
host.serve('/klaro.js', klaroSrc, 'application/javascript; charset=utf-8');
const klaroConfig = {
  version: 1,
  elementID: 'klaro',
  storageMethod: 'localStorage',
  htmlTexts: false,
  groupByPurpose: false,
  default: false,
  mustConsent: false,
  acceptAll: true,
  hideDeclineAll: false,
  lang: 'en',
  translations: {
    en: {
      privacyPolicyUrl: '/privacy',
      consentNotice: { description: 'Acme Outdoor would like to use some data to make this site better for you.' },
      purposes: { personalization: 'Recommendations for you', newsletter: 'Deals by email', analytics: 'Improve the shop' },
    },
  },
  services: [
    { name: 'personalization', title: 'Recommendations for you', purposes: ['personalization'], description: 'We use the products you view and buy to suggest others you may like.' },
    { name: 'newsletter', title: 'Deals by email', purposes: ['newsletter'], description: 'One email a week with offers.' },
    { name: 'analytics', title: 'Improve the shop', purposes: ['analytics'], description: 'Anonymous, aggregated statistics about how the shop is used.' },
  ],
};
const klaroPage = widgetPage(candor, { src: 'about:blank' }).replace(
  /<script src="about:blank"[^>]*><\/script>/,
  `<script>var klaroConfig = ${JSON.stringify(klaroConfig)};</script>\n<script src="${host.origin}/klaro.js"></script>`,
);
const candorBanner = "(() => { const h = document.querySelector('[data-candor]'); return h && h.shadowRoot && h.shadowRoot.querySelector('.banner'); })()";
const targets = {
  candor: { url: host.page(widgetPage(candor)), find: candorBanner },
  // What this browser and machine can do at best: the same page, a banner inserted by an
  // inline script at DOMContentLoaded, no network.
  floor: { url: host.page(widgetPage(candor).replace(/<script src=[^>]*><\/script>/, `<script>addEventListener('DOMContentLoaded', () => {
    const d = document.createElement('div'); d.id = 'floor'; d.textContent = 'Your privacy choices';
    d.style.cssText = 'position:fixed;bottom:16px;left:16px;padding:20px;background:#fff'; document.body.append(d); });</script>`)),
  find: "document.getElementById('floor')" },
  klaro: { url: host.page(klaroPage), find: "document.querySelector('#klaro .cookie-notice:not(.cookie-notice-hidden)')" },
};

// Runs before any script of the page.
const probe = (find) => `(() => {
  window.__banner = null;
  const found = () => { try { const el = ${find}; return el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden' ? el : null; } catch (e) { return null; } };
  let done = false;
  const check = () => {
    if (done || !found()) return;
    done = true;
    const dom = performance.now();
    requestAnimationFrame(() => { window.__banner = { dom, frame: performance.now() }; });
  };
  const mo = new MutationObserver(check);
  mo.observe(document, { childList: true, subtree: true, attributes: true });
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    mo.observe(root, { childList: true, subtree: true, attributes: true });
    return root;
  };
})();`;

async function measure(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(probe(targets[name].find));
  const page = await context.newPage();
  const asked = [];
  page.on('request', (r) => { if (r.url().startsWith(`${candor.url}/v1/`)) asked.push(r.url()); });
  await page.goto(targets[name].url);
  await page.waitForFunction(() => window.__banner !== null, null, { timeout: 15000 });
  const t = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return { ...window.__banner, responseEnd: nav.responseEnd, domInteractive: nav.domInteractive };
  });
  await context.close();
  if (asked.length) throw new Error(`${name}: the first-time visitor's page asked candor for ${asked.join(', ')}`);
  return t;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  for (const name of Object.keys(targets)) await measure(name); // warm up the servers and the browser
  const results = { candor: [], klaro: [], floor: [] };
  const order = Object.keys(results);
  for (let i = 0; i < RUNS; i++) {
    for (const name of i % 2 ? [...order].reverse() : order) results[name].push(await measure(name));
  }
  const row = (key, name, size, gzSize) => {
    const frames = results[key].map((r) => r.frame);
    const doms = results[key].map((r) => r.dom);
    return {
      name, bytes: size, gzip: gzSize, frame: median(frames), dom: median(doms), min: Math.min(...frames), max: Math.max(...frames),
      responseEnd: median(results[key].map((r) => r.responseEnd)), domInteractive: median(results[key].map((r) => r.domInteractive)),
    };
  };
  const c = row('candor', 'candor /widget.js as served (widget.js + notice)', servedSrc.length, gz(servedSrc));
  const f = row('floor', 'floor: inline banner, no network', 0, 0);
  const k = row('klaro', `Klaro ${klaroVersion} klaro.js`, klaroSrc.length, gz(klaroSrc));
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const ms = (n) => `${n.toFixed(1)} ms`;
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0].model}, load average ${load}; candor: ${candorBin()}; ${RUNS} runs each, medians`);
  console.log('| script | size | gzipped (zlib -9) | banner painted (median) | banner in DOM (median) | painted min–max |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| (widget/widget.js alone) | ${kib(widgetSrc.length)} | ${kib(gz(widgetSrc))} | | | |`);
  for (const r of [c, k, f]) console.log(`| ${r.name} | ${r.bytes ? kib(r.bytes) : '—'} | ${r.gzip ? kib(r.gzip) : '—'} | ${ms(r.frame)} | ${ms(r.dom)} | ${ms(r.min)}–${ms(r.max)} |`);
  // Where the floor's time goes: the page's own bytes arrive within a few ms; the rest
  // is the browser committing the navigation (a fresh context starts a renderer) and parsing.
  console.log(`floor page: response complete at ${ms(f.responseEnd)}, DOM interactive at ${ms(f.domInteractive)} (medians)`);
  console.log(`candor / Klaro: gzipped size ${(c.gzip / k.gzip).toFixed(2)}×, banner painted ${(c.frame / k.frame).toFixed(2)}×`);
  const over = (r) => (r.frame - f.frame) / (k.frame - f.frame);
  console.log(`above the floor, candor / Klaro: ${over(c).toFixed(2)}×`);
  const ok = c.gzip <= 12 * 1024 && c.frame <= 80 && c.frame < k.frame / 2;
  console.log(`goal (≤ 12 KiB gzipped, banner ≤ 80 ms and under half of Klaro's): ${ok ? 'met' : 'NOT met'}`);
} finally {
  await browser.close();
  await candor.stop();
  await host.close();
}
