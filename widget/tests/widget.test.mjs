// The consent widget in real Chromium against a real candor: what a shop's customer sees
// and what candor records when they click.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { WIDGET_DIR, axeCheck, freePort, launchBrowser, newPage, screenshot, startCandor, startHost, widgetPage } from './harness.mjs';

const OPTIONAL = ['analytics', 'newsletter', 'personalization'];
const T = { timeout: 60_000 };

let host;
let candor;
let browser;
let consentKey;

before(async () => {
  host = await startHost();
  candor = await startCandor({ origins: [host.origin] });
  consentKey = await candor.createKey('consent');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await candor?.stop();
  await host?.close();
});

const banner = (page) => page.locator('[data-candor] .banner');
const dialog = (page) => page.locator('[data-candor] [role="dialog"]');
const anonymousId = (page) => page.evaluate(() => localStorage.getItem('candor_id'));

/** The anonymous visitor's state as candor serves it to the widget. */
async function serverState(id) {
  const r = await candor.get(`/v1/consents?anonymous_id=${encodeURIComponent(id)}`);
  assert.equal(r.status, 200, r.text);
  return r.body;
}

/** The visitor's current rows with sources and methods: merged into a known subject of its own. */
async function ledger(id) {
  const subject = `ledger-${id}`;
  const merged = await candor.post(`/v1/subjects/${subject}/aliases`, { anonymous_id: id }, consentKey);
  assert.equal(merged.status, 200, merged.text);
  const r = await candor.get(`/v1/subjects/${subject}/consents`, consentKey);
  assert.equal(r.status, 200, r.text);
  return r.body.purposes;
}

/** Every request the page made went to candor or to the host page itself. */
function assertOnlyOwnOrigins(page, extra = []) {
  const allowed = new Set([candor.origin, host.origin, ...extra]);
  const foreign = page.requests.filter((u) => !allowed.has(new URL(u).origin));
  assert.deepEqual(foreign, [], 'requests to other hosts');
}

async function openShop(options = {}, pageOptions = {}) {
  const { context, page } = await newPage(browser, pageOptions);
  await page.goto(host.page(widgetPage(candor, options)));
  return { context, page };
}

describe('first visit', () => {
  test('accept all records a grant of every optional purpose, and nothing else', T, async () => {
    const { context, page } = await openShop();
    await banner(page).waitFor();
    assert.equal(await anonymousId(page), null, 'no id is stored before the visitor chooses');
    await page.getByRole('button', { name: 'Accept all' }).click();
    await banner(page).waitFor({ state: 'detached' });
    const id = await anonymousId(page);
    assert.match(id, /^[A-Za-z0-9_-]{22,}$/);
    const s = await serverState(id);
    assert.deepEqual(s.purposes, { account: 'granted', analytics: 'granted', newsletter: 'granted', personalization: 'granted' });
    assert.deepEqual(s.needs_reconsent, []);
    const rows = await ledger(id);
    for (const p of OPTIONAL) {
      assert.equal(rows[p].source, 'widget');
      assert.equal(rows[p].method, 'checkbox');
      assert.equal(rows[p].default, false);
    }
    assert.equal(rows.account.default, true, 'contract purposes are not asked');
    assert.equal(await page.evaluate(() => window.candor.hasConsent('newsletter')), true);
    await page.reload();
    await page.waitForFunction(() => window.candor.hasConsent('analytics'));
    assert.equal(await banner(page).count(), 0, 'a visitor who chose is not asked again');
    assertOnlyOwnOrigins(page);
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test('the notice comes with widget.js: no request to /v1/notice; a returning visitor asks only for its own state', T, async () => {
    const { context, page } = await openShop();
    await banner(page).waitFor();
    const notice = (await candor.get('/v1/notice')).body;
    assert.equal(await page.evaluate(() => document.querySelector('script[data-candor-origin]').candorNotice), undefined, 'taken once');
    const asked = (p) => page.requests.filter((u) => u.startsWith(`${candor.url}${p}`));
    assert.deepEqual(asked('/v1/'), [], 'a first-time visitor makes no API request before choosing');
    assert.equal(asked('/widget.js').length, 1);
    await page.getByRole('button', { name: 'Reject all' }).click();
    await banner(page).waitFor({ state: 'detached' });
    const post = page.requests.filter((u) => u === `${candor.url}/v1/consents`);
    assert.equal(post.length, 1);
    const id = await anonymousId(page);
    assert.equal((await candor.get(`/v1/consents?anonymous_id=${id}`)).body.notice_version, notice.version);

    page.requests.length = 0;
    await page.reload();
    await page.waitForFunction(() => window.candor && window.candor.hasConsent('account'));
    assert.equal(await banner(page).count(), 0);
    assert.deepEqual(asked('/v1/'), [`${candor.url}/v1/consents?anonymous_id=${id}`]);
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test('reject all records a refusal of every optional purpose', T, async () => {
    const { context, page } = await openShop();
    await page.getByRole('button', { name: 'Reject all' }).click();
    await banner(page).waitFor({ state: 'detached' });
    const s = await serverState(await anonymousId(page));
    assert.deepEqual(s.purposes, { account: 'granted', analytics: 'denied', newsletter: 'denied', personalization: 'denied' });
    const rows = await ledger(await anonymousId(page));
    for (const p of OPTIONAL) assert.equal(rows[p].default, false, `${p} was recorded, not defaulted`);
    for (const p of OPTIONAL) assert.equal(await page.evaluate((x) => window.candor.hasConsent(x), p), false);
    await context.close();
  });

  test('choose: switching one purpose on records exactly that grant', T, async () => {
    const { context, page } = await openShop();
    await page.getByRole('button', { name: 'Choose' }).click();
    await dialog(page).waitFor();
    await page.getByRole('switch', { name: 'Recommendations for you' }).check();
    const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/consents'));
    await page.getByRole('button', { name: 'Save choices' }).click();
    const body = (await posted).postDataJSON();
    assert.deepEqual(body.choices, { analytics: false, newsletter: false, personalization: true });
    assert.equal(body.source, 'widget');
    assert.equal(body.gpc, undefined);
    await dialog(page).waitFor({ state: 'detached' });
    assert.equal(await banner(page).count(), 0);
    const s = await serverState(await anonymousId(page));
    assert.deepEqual(s.purposes, { account: 'granted', analytics: 'denied', newsletter: 'denied', personalization: 'granted' });
    await context.close();
  });

  test('nothing is pre-ticked; accept and reject look exactly alike', T, async () => {
    const { context, page } = await openShop();
    const accept = page.getByRole('button', { name: 'Accept all' });
    const reject = page.getByRole('button', { name: 'Reject all' });
    await accept.waitFor();
    const look = (el) => el.evaluate((b) => {
      const s = getComputedStyle(b);
      const r = b.getBoundingClientRect();
      return { tag: b.tagName, width: Math.round(r.width), height: Math.round(r.height), top: Math.round(r.top),
        ...Object.fromEntries(['background-color', 'color', 'font-size', 'font-weight', 'font-family', 'border', 'border-radius', 'padding', 'opacity', 'text-decoration-line'].map((k) => [k, s.getPropertyValue(k)])) };
    });
    const [a, r] = [await look(accept), await look(reject)];
    assert.deepEqual(a, r);
    assert.equal(a.tag, 'BUTTON');
    assert.ok(a.width >= 120 && a.height >= 44, `buttons are comfortably clickable: ${a.width}x${a.height}`);
    assert.notEqual(a['background-color'], 'rgb(255, 105, 180)', 'the host page CSS does not reach the widget');

    await page.getByRole('button', { name: 'Choose' }).click();
    const switches = page.locator('[data-candor] input[role="switch"]');
    assert.equal(await switches.count(), 3, 'one switch per consent purpose, none for the contract purpose');
    for (const sw of await switches.all()) assert.equal(await sw.isChecked(), false, 'nothing is pre-ticked');
    const account = dialog(page).locator('.purpose').first();
    assert.match(await account.innerText(), /Run your account[\s\S]*Always on/);
    const newsletter = dialog(page).locator('.purpose', { hasText: 'Deals by email' });
    const text = await newsletter.innerText();
    assert.match(text, /One email a week with offers\./);
    assert.match(text, /Data: contact details \(email\)/);
    assert.match(text, /Kept for: 2 years/);
    assert.match(text, /Shared with: Mailer Inc\./);
    assert.match(text, /Unlocks: 10% off your next order/);
    await context.close();
  });
});

describe('gated scripts', () => {
  test('run once when their purpose is granted: never before, never twice', T, async () => {
    host.serve('/gated.js', 'window.srcRuns = (window.srcRuns || 0) + 1;', 'application/javascript');
    const gated = `
<script type="text/plain" data-candor-purpose="analytics">window.inlineRuns = (window.inlineRuns || 0) + 1;</script>
<script type="text/plain" data-candor-purpose="analytics" src="${host.origin}/gated.js"></script>
<script type="text/plain" data-candor-purpose="newsletter">window.newsletterRuns = (window.newsletterRuns || 0) + 1;</script>`;
    const { context, page } = await openShop({ body: gated });
    await banner(page).waitFor();
    await page.evaluate(() => { window.changes = []; window.candor.on('change', (e) => window.changes.push(e.changed)); });
    const runs = () => page.evaluate(() => [window.inlineRuns || 0, window.srcRuns || 0, window.newsletterRuns || 0]);
    assert.deepEqual(await runs(), [0, 0, 0], 'nothing runs before consent');

    await page.getByRole('button', { name: 'Reject all' }).click();
    await banner(page).waitFor({ state: 'detached' });
    assert.deepEqual(await runs(), [0, 0, 0], 'nothing runs after a refusal');

    await page.evaluate(() => window.candor.open());
    await page.getByRole('switch', { name: 'Improve the shop' }).check();
    await page.getByRole('button', { name: 'Save choices' }).click();
    await dialog(page).waitFor({ state: 'detached' });
    await page.waitForFunction(() => window.srcRuns === 1);
    assert.deepEqual(await runs(), [1, 1, 0], 'analytics scripts ran once on the grant');
    assert.deepEqual(await page.evaluate(() => window.changes), [['analytics']]);

    // Saving again (another purpose) must not run the analytics scripts a second time.
    await page.evaluate(() => window.candor.open());
    await page.getByRole('switch', { name: 'Deals by email' }).check();
    await page.getByRole('button', { name: 'Save choices' }).click();
    await dialog(page).waitFor({ state: 'detached' });
    await page.waitForFunction(() => window.newsletterRuns === 1);
    await page.waitForTimeout(200);
    assert.deepEqual(await runs(), [1, 1, 1]);

    // A returning visitor who granted: the scripts run once on load.
    await page.reload();
    await page.waitForFunction(() => window.candor.hasConsent('analytics') && window.srcRuns === 1);
    await page.waitForTimeout(300);
    assert.deepEqual(await runs(), [1, 1, 1]);
    assert.equal(await banner(page).count(), 0);
    assert.deepEqual(page.errors, []);
    await context.close();
  });
});

describe('global privacy control', () => {
  test('GPC records "no" for gpc_opt_out purposes (method gpc); a later explicit opt-in wins', T, async () => {
    const { context, page } = await openShop({}, { gpc: true });
    await banner(page).waitFor();
    assert.equal(await page.evaluate(() => navigator.globalPrivacyControl), true);
    assert.match(await banner(page).innerText(), /Global Privacy Control[\s\S]*Improve the shop/);
    const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/consents'));
    await page.getByRole('button', { name: 'Accept all' }).click();
    const body = (await posted).postDataJSON();
    assert.equal(body.gpc, true);
    assert.equal('analytics' in body.choices, false, 'accept all does not override the GPC signal');
    await banner(page).waitFor({ state: 'detached' });
    const id = await anonymousId(page);

    let rows = await ledger(id);
    assert.equal(rows.analytics.state, 'denied');
    assert.equal(rows.analytics.method, 'gpc');
    assert.equal(rows.personalization.state, 'granted');
    assert.equal(rows.personalization.method, 'checkbox');
    assert.equal(await page.evaluate(() => window.candor.hasConsent('analytics')), false);

    await page.evaluate(() => window.candor.open());
    const sw = page.getByRole('switch', { name: 'Improve the shop' });
    assert.equal(await sw.isChecked(), false);
    await sw.check();
    await page.getByRole('button', { name: 'Save choices' }).click();
    await dialog(page).waitFor({ state: 'detached' });
    rows = await ledger(id);
    assert.equal(rows.analytics.state, 'granted');
    assert.equal(rows.analytics.method, 'checkbox');
    assert.equal(await page.evaluate(() => window.candor.hasConsent('analytics')), true);
    assert.deepEqual((await serverState(id)).purposes.analytics, 'granted');
    await context.close();
  });
});

describe('privacy', () => {
  test('no request goes to any host but candor and the page', T, async () => {
    const { context, page } = await openShop();
    await page.getByRole('button', { name: 'Choose' }).click();
    await page.getByRole('switch', { name: 'Deals by email' }).check();
    await page.getByRole('button', { name: 'Save choices' }).click();
    await dialog(page).waitFor({ state: 'detached' });
    await page.reload();
    await page.waitForFunction(() => window.candor.hasConsent('newsletter'));
    assert.ok(page.requests.some((u) => u.startsWith(`${candor.url}/v1/consents`)), 'the widget did talk to candor');
    assertOnlyOwnOrigins(page);
    // The check itself notices a third party.
    assert.throws(() => assertOnlyOwnOrigins({ requests: [...page.requests, 'https://tracker.example/pixel.gif'] }));
    await context.close();
  });

  test('without localStorage the anonymous id lives in a first-party cookie', T, async () => {
    const { context, page } = await newPage(browser);
    await context.addInitScript(() => {
      Storage.prototype.setItem = () => { throw new DOMException('blocked', 'SecurityError'); };
    });
    await page.goto(host.page(widgetPage(candor)));
    await page.getByRole('button', { name: 'Accept all' }).click();
    await banner(page).waitFor({ state: 'detached' });
    assert.equal(await anonymousId(page), null);
    const cookies = await context.cookies(host.origin);
    const id = cookies.find((c) => c.name === 'candor_id');
    assert.ok(id && /^[A-Za-z0-9_-]{22,}$/.test(id.value), JSON.stringify(cookies));
    assert.equal(id.sameSite, 'Lax');
    assert.equal((await serverState(id.value)).purposes.newsletter, 'granted');
    await page.reload();
    await page.waitForFunction(() => window.candor.hasConsent('newsletter'));
    assert.equal(await banner(page).count(), 0);
    await context.close();
  });

  test('candor unreachable: the page works, no consent is assumed, nothing throws', T, async () => {
    const dead = `http://127.0.0.1:${await freePort()}/`;
    const gated = '<script type="text/plain" data-candor-purpose="account">window.gatedRan = true;</script><p id="ok">Shop works</p>';
    // The script loads but its API origin is down.
    const { context, page } = await openShop({ origin: dead, body: gated });
    await page.locator('#ok').waitFor();
    await page.waitForTimeout(2500); // the first retries happen in this window
    assert.equal(await page.evaluate(() => window.candor.hasConsent('account')), false);
    assert.equal(await page.evaluate(() => window.gatedRan), undefined);
    assert.equal(await banner(page).count(), 0);
    assert.ok(page.requests.filter((u) => u.startsWith(`${dead}v1/notice`)).length >= 2, 'it retries');
    assert.deepEqual(page.errors, []);

    // The script itself is unreachable.
    await page.goto(host.page(widgetPage(candor, { origin: dead, src: `${dead}widget.js`, body: gated })));
    await page.locator('#ok').waitFor();
    assert.equal(await page.evaluate(() => window.gatedRan), undefined);
    assert.deepEqual(page.errors, []);
    await context.close();
  });

  test('candor slow: the page loads at once and the banner comes when candor answers', T, async () => {
    const { context, page } = await newPage(browser);
    await page.route(`${candor.url}/v1/notice`, async (route) => {
      await new Promise((r) => setTimeout(r, 4000));
      await route.continue();
    });
    // widget.js copied to the shop (no notice with it), so the widget has to ask candor.
    const src = host.serve('/copy/widget.js', await readFile(path.join(WIDGET_DIR, 'widget.js')), 'application/javascript; charset=utf-8');
    const started = Date.now();
    await page.goto(host.page(widgetPage(candor, { src, body: '<p id="ok">Shop works</p>' })), { waitUntil: 'load' });
    assert.ok(Date.now() - started < 3000, 'the host page did not wait for candor');
    assert.equal(await page.evaluate(() => window.candor.hasConsent('account')), false);
    await banner(page).waitFor();
    assert.equal(await page.evaluate(() => window.candor.hasConsent('account')), true);
    assert.ok(page.requests.includes(`${candor.url}/v1/notice`));
    assert.deepEqual(page.errors, []);
    await context.close();
  });
});

describe('accessibility and language', () => {
  test('keyboard: Tab and Shift+Tab stay in the dialog; Escape closes it and focus returns', T, async () => {
    const { context, page } = await openShop();
    const choose = page.getByRole('button', { name: 'Choose' });
    await choose.focus();
    await page.keyboard.press('Enter');
    await dialog(page).waitFor();
    const where = () => page.evaluate(() => {
      const el = document.querySelector('[data-candor]').shadowRoot.activeElement;
      return el ? { inDialog: !!el.closest('[role="dialog"]'), key: el.dataset.k || el.getAttribute('aria-label') || el.textContent || el.id } : null;
    });
    const seen = new Set();
    for (let i = 0; i < 14; i++) {
      await page.keyboard.press('Tab');
      const w = await where();
      assert.equal(w && w.inDialog, true, `Tab #${i + 1} left the dialog`);
      seen.add(w.key);
    }
    assert.ok(seen.size >= 7, `Tab visits every control (${[...seen]})`);
    for (let i = 0; i < 14; i++) {
      await page.keyboard.press('Shift+Tab');
      const w = await where();
      assert.equal(w && w.inDialog, true, `Shift+Tab #${i + 1} left the dialog`);
    }
    await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'detached' });
    assert.deepEqual(await where(), { inDialog: false, key: 'choose' }, 'focus returns to Choose');
    assert.equal(await banner(page).count(), 1, 'closing the dialog records nothing and keeps the banner');
    await context.close();
  });

  test('a host link marked data-candor-open opens the dialog; focus goes back to it', T, async () => {
    const { context, page } = await openShop();
    await banner(page).waitFor();
    await page.getByRole('button', { name: 'Reject all' }).click();
    await banner(page).waitFor({ state: 'detached' });
    const link = page.getByRole('link', { name: 'Privacy choices' });
    await link.focus();
    await page.keyboard.press('Enter');
    await dialog(page).waitFor();
    assert.equal(await page.getByRole('dialog', { name: 'Your privacy choices' }).getAttribute('aria-modal'), 'true');
    await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Privacy choices');
    await context.close();
  });

  test('German from <html lang="de">, titles from the catalog translations', T, async () => {
    const { context, page } = await openShop({ lang: 'de' });
    await banner(page).waitFor();
    for (const name of ['Alle akzeptieren', 'Alle ablehnen', 'Auswählen']) await page.getByRole('button', { name }).waitFor();
    assert.match(await banner(page).innerText(), /Ihre Datenschutz-Einstellungen[\s\S]*Empfehlungen für Sie/);
    await page.getByRole('button', { name: 'Auswählen' }).click();
    await page.getByRole('switch', { name: 'Empfehlungen für Sie' }).waitFor();
    const text = await dialog(page).innerText();
    assert.match(text, /Aufbewahrung: 1 Jahr/);
    assert.match(text, /Immer aktiv/);
    assert.equal(await page.getByRole('button', { name: 'Auswahl speichern' }).count(), 1);
    assert.equal(await page.getByRole('dialog', { name: 'Ihre Datenschutz-Einstellungen' }).count(), 1);
    await context.close();
  });

  test('axe finds no serious or critical problem on the banner or the dialog; screenshots', T, async () => {
    const { context, page } = await openShop();
    await banner(page).waitFor();
    await screenshot(page, 'banner');
    assert.deepEqual(await axeCheck(page), []);
    await page.getByRole('button', { name: 'Choose' }).click();
    await dialog(page).waitFor();
    await page.getByRole('switch', { name: 'Recommendations for you' }).check();
    await page.mouse.move(0, 0);
    await screenshot(page, 'dialog');
    assert.deepEqual(await axeCheck(page), []);
    const { page: mobile, context: small } = await newPage(browser, { viewport: { width: 390, height: 844 } });
    await mobile.goto(host.page(widgetPage(candor)));
    await banner(mobile).waitFor();
    await screenshot(mobile, 'banner-mobile');
    assert.deepEqual(await axeCheck(mobile), []);
    await small.close();
    await context.close();
  });
});
