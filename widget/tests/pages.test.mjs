// The privacy notice and the control panel in real Chromium against a real candor: what a
// customer reads and does, checked with axe-core and recorded server-side.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';

import { axeCheck, launchBrowser, newPage, screenshot, startCandor } from './harness.mjs';

const T = { timeout: 90_000 };

let candor;
let browser;
let key;

before(async () => {
  candor = await startCandor({ origins: [] });
  key = await candor.createKey('consent', 'ingest', 'dsar', 'read:newsletter');
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await candor?.stop();
});

async function put(path, body) {
  const res = await fetch(candor.url + path, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200, await res.text());
}

/** A customer with consents, an email, events and one purpose-bound read; returns a fresh panel link. */
async function customer(id) {
  const version = (await candor.get('/v1/notice')).body.version;
  const consent = await candor.post('/v1/consents', { subject: id, choices: { newsletter: true, analytics: true }, notice_version: version, source: 'api' }, key);
  assert.equal(consent.status, 201, consent.text);
  await put(`/v1/subjects/${id}/traits`, { traits: { email: `${id}@example.com` } });
  const events = await candor.post('/v1/events', { events: [
    { subject: id, type: 'product_viewed', properties: { product_id: 'tent-ultralight-2p' } },
    { subject: id, type: 'product_viewed', properties: { product_id: 'rain-jacket-storm' } },
  ] }, key);
  assert.equal(events.status, 200, events.text);
  assert.equal((await candor.get(`/v1/subjects/${id}/data?purpose=newsletter`, key)).status, 200);
  return link(id);
}

async function link(id) {
  const r = await candor.post(`/v1/subjects/${id}/sessions`, {}, key);
  assert.equal(r.status, 201, r.text);
  return r.body.url;
}

describe('privacy notice', () => {
  test('/privacy explains every purpose, passes axe, and speaks German', T, async () => {
    const { context, page } = await newPage(browser, { bypassCSP: true });
    await page.goto(`${candor.url}/privacy`);
    const text = await page.locator('main').innerText();
    for (const title of ['Run your account', 'Recommendations for you', 'Deals by email', 'Improve the shop']) {
      assert.ok(text.includes(title), `missing ${title}`);
    }
    assert.ok(/1095|3 years/.test(text), 'retention is stated');
    assert.deepEqual(await axeCheck(page), []);
    await page.screenshot({ path: (await screenshot(page, 'privacy')), fullPage: true });
    await page.goto(`${candor.url}/privacy?lang=de`);
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    assert.ok((await page.locator('main').innerText()).includes('Angebote per E-Mail'));
    await page.goto(`${candor.url}/privacy/changes`);
    assert.deepEqual(await axeCheck(page), []);
    assert.deepEqual(page.requests.filter((u) => new URL(u).origin !== candor.origin), [], 'no third-party request');
    await context.close();
  });
});

describe('control panel', () => {
  test('a session link opens the panel once; the panel shows the data, passes axe, and records changes', T, async () => {
    const url = await customer('panel-customer-1');
    const { context, page } = await newPage(browser, { bypassCSP: true });
    await page.goto(url);
    assert.equal(new URL(page.url()).pathname, '/me');
    assert.ok(!page.url().includes('token='), 'the token leaves the address bar');
    const text = await page.locator('main').innerText();
    assert.ok(text.includes('panel-customer-1@example.com'), 'data held shows the decrypted email');
    assert.ok(text.includes('tent-ultralight-2p'), 'data held shows event values');
    assert.ok(/WELCOME10-/.test(text), 'the unlocked benefit shows its code');
    assert.deepEqual(await axeCheck(page), []);
    await page.screenshot({ path: await screenshot(page, 'me'), fullPage: true });

    // The same link in another browser: a clear page, nothing of the subject.
    const other = await newPage(browser, { bypassCSP: true });
    const reused = await other.page.goto(url);
    assert.equal(reused.status(), 410);
    assert.ok(!(await other.page.content()).includes('panel-customer-1@example.com'));
    await other.context.close();

    // Toggle personalization on and save: recorded with source panel.
    await page.locator('#c-personalization').check();
    await page.getByRole('button', { name: /save/i }).click();
    await page.waitForURL(/\/me/);
    const state = await candor.get('/v1/subjects/panel-customer-1/consents', key);
    assert.equal(state.body.purposes.personalization.state, 'granted');
    assert.equal(state.body.purposes.personalization.source, 'panel');
    assert.deepEqual(page.requests.filter((u) => new URL(u).origin !== candor.origin), [], 'no third-party request');
    await context.close();
  });

  test('download gives the data; delete asks first, then erases for good', T, async () => {
    const url = await customer('panel-customer-2');
    const { context, page } = await newPage(browser, { bypassCSP: true });
    await page.goto(url);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /JSON/ }).click()]);
    const exported = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.equal(exported.traits.email.value, 'panel-customer-2@example.com');
    assert.equal(exported.events.length, 2);

    await page.locator('a[href*="/me/delete"]').click();
    await page.waitForURL(/\/me\/delete/);
    assert.equal((await candor.get('/v1/subjects/panel-customer-2/consents', key)).status, 200, 'nothing erased before confirming');
    assert.deepEqual(await axeCheck(page), []);
    await page.getByRole('button', { name: /delete/i }).click();
    await page.waitForLoadState();
    assert.ok(!(await page.content()).includes('panel-customer-2@example.com'));
    assert.equal((await candor.get('/v1/subjects/panel-customer-2/consents', key)).status, 404, 'erased');
    const back = await page.goto(`${candor.url}/me`);
    assert.notEqual(back.status(), 200, 'the old cookie opens nothing');
    await context.close();
  });
});
