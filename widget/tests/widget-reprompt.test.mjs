// Material notice changes, in real Chromium against a real candor whose catalog is edited
// and republished with `candor notice publish` (its own instance: it changes the notice).

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { WIDGET_DIR, launchBrowser, newPage, screenshot, startCandor, startHost, widgetPage } from './harness.mjs';

const T = { timeout: 90_000 };
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
const anonymousId = (page) => page.evaluate(() => localStorage.getItem('candor_id'));

/** Declares one more field for `purpose`: a material change to it alone. */
let added = 0;
const addField = (purpose) => (toml) => `${toml}
[[field]]
name = "extra_${++added}"
type = "string"
max_len = 100
category = "behavior.search"
purposes = ["${purpose}"]
`;

test('after a material change, a returning visitor is asked again only about what changed', T, async () => {
  const { context, page } = await newPage(browser);
  const url = host.page(widgetPage(candor));
  await page.goto(url);
  await page.getByRole('button', { name: 'Accept all' }).click();
  await banner(page).waitFor({ state: 'detached' });
  const id = await anonymousId(page);
  const before = (await candor.get('/v1/notice')).body.version;

  const out = await candor.editCatalog(addField('personalization'));
  assert.match(out, /personalization/);
  assert.equal((await candor.get('/v1/notice')).body.version, before + 1);

  await page.reload();
  await banner(page).waitFor();
  await screenshot(page, 'banner-reprompt');
  assert.deepEqual(await banner(page).locator('li').allInnerTexts(), ['Recommendations for you']);
  assert.equal(await page.getByRole('button', { name: 'Accept all' }).count(), 0);
  // Until then the old grant still stands for what it covered.
  assert.equal(await page.evaluate(() => window.candor.hasConsent('newsletter')), true);

  await page.getByRole('button', { name: 'Choose' }).click();
  const changed = page.locator('[data-candor] .purpose', { has: page.locator('.changed') });
  assert.deepEqual(await changed.locator('label').allInnerTexts(), ['Recommendations for you']);
  await page.keyboard.press('Escape');

  const posted = page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/v1/consents'));
  await page.getByRole('button', { name: 'Accept', exact: true }).click();
  assert.deepEqual((await posted).postDataJSON().choices, { personalization: true });
  await banner(page).waitFor({ state: 'detached' });

  const state = (await candor.get(`/v1/consents?anonymous_id=${id}`)).body;
  assert.deepEqual(state.needs_reconsent, []);
  const merged = await candor.post('/v1/subjects/returning/aliases', { anonymous_id: id }, consentKey);
  assert.equal(merged.status, 200, merged.text);
  const rows = (await candor.get('/v1/subjects/returning/consents', consentKey)).body.purposes;
  assert.equal(rows.personalization.notice_version, before + 1, 'personalization was asked again');
  assert.equal(rows.newsletter.notice_version, before, 'newsletter was not asked again');
  assert.equal(rows.analytics.notice_version, before, 'analytics was not asked again');
  await page.reload();
  await page.waitForFunction(() => window.candor.hasConsent('personalization'));
  assert.equal(await banner(page).count(), 0);
  assert.deepEqual(page.errors, []);
  await context.close();
});

test('a notice published while the banner is open is shown before anything is recorded (409)', T, async () => {
  const { context, page } = await newPage(browser);
  await page.goto(host.page(widgetPage(candor)));
  await banner(page).waitFor();
  const shown = (await candor.get('/v1/notice')).body.version;
  await candor.editCatalog(addField('newsletter'));

  const answers = [];
  page.on('response', (r) => { if (r.request().method() === 'POST') answers.push(r.status()); });
  await page.getByRole('button', { name: 'Accept all' }).click();
  await banner(page).getByText('Our privacy notice has just changed').waitFor();
  assert.deepEqual(answers, [409]);
  assert.equal(await anonymousId(page) !== null, true);
  assert.equal((await candor.get(`/v1/consents?anonymous_id=${await anonymousId(page)}`)).status, 404, 'nothing was recorded');

  await page.getByRole('button', { name: 'Accept all' }).click();
  await banner(page).waitFor({ state: 'detached' });
  assert.deepEqual(answers, [409, 201]);
  const merged = await candor.post('/v1/subjects/late-reader/aliases', { anonymous_id: await anonymousId(page) }, consentKey);
  assert.equal(merged.status, 200, merged.text);
  const rows = (await candor.get('/v1/subjects/late-reader/consents', consentKey)).body.purposes;
  assert.equal(rows.newsletter.state, 'granted');
  assert.equal(rows.newsletter.notice_version, shown + 1, 'recorded under the notice actually shown');
  await context.close();
});

test('a legitimate-interest purpose is on by default, shown with a switch to object', T, async () => {
  await candor.editCatalog((toml) => `${toml}
[[purpose]]
id = "fraud_prevention"
title = "Prevent fraud"
description = "We check orders for signs of fraud."
legal_basis = "legitimate_interest"
retention_days = 180
`);
  const { context, page } = await newPage(browser);
  await page.goto(host.page(widgetPage(candor)));
  await banner(page).waitFor();
  assert.equal(await page.evaluate(() => window.candor.hasConsent('fraud_prevention')), true);
  await page.getByRole('button', { name: 'Choose' }).click();
  const sw = page.getByRole('switch', { name: 'Prevent fraud' });
  assert.equal(await sw.isChecked(), true, 'on by default');
  assert.match(await page.locator('[data-candor] .purpose', { hasText: 'Prevent fraud' }).innerText(), /On unless you object/);
  for (const name of ['Recommendations for you', 'Deals by email', 'Improve the shop']) {
    assert.equal(await page.getByRole('switch', { name }).isChecked(), false, `${name} is not pre-ticked`);
  }
  await sw.uncheck();
  await page.getByRole('button', { name: 'Save choices' }).click();
  await page.locator('[data-candor] [role="dialog"]').waitFor({ state: 'detached' });
  assert.equal(await banner(page).count(), 0);
  const state = (await candor.get(`/v1/consents?anonymous_id=${await anonymousId(page)}`)).body;
  assert.equal(state.purposes.fraud_prevention, 'objected');
  assert.equal(await page.evaluate(() => window.candor.hasConsent('fraud_prevention')), false);
  await context.close();
});

test('catalog text with </script> and U+2028 travels inside widget.js as data, never as markup', T, async () => {
  const hostile = 'Weekly. </script><script>alert(1)</script><!-- \u2028\u2029 "quoted" \\';
  await candor.editCatalog((toml) => toml.replace('"One email a week with offers."', JSON.stringify(hostile)));
  const served = await (await fetch(`${candor.url}/widget.js`)).text();
  const source = await readFile(path.join(WIDGET_DIR, 'widget.js'), 'utf8');
  assert.ok(served.startsWith(source));
  const trailer = served.slice(source.length);
  assert.ok(trailer.includes('Weekly. \\u003c/script\\u003e'), trailer);
  assert.ok(!/[<>\u2028\u2029]/.test(trailer), trailer);

  const { context, page } = await newPage(browser);
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await page.goto(host.page(widgetPage(candor)));
  await banner(page).waitFor();
  assert.deepEqual(page.requests.filter((u) => u.startsWith(`${candor.url}/v1/notice`)), [], 'the embedded notice was used');
  await page.getByRole('button', { name: 'Choose' }).click();
  const text = await page.locator('[data-candor] .purpose', { hasText: 'Deals by email' }).innerText();
  assert.ok(text.includes('Weekly. </script><script>alert(1)</script><!-- '), text);
  assert.deepEqual(dialogs, []);
  assert.deepEqual(page.errors, []);
  await context.close();
});
