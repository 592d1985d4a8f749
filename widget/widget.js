/*! candor consent widget, served by candor at /widget.js. Apache-2.0.
 *
 * Embed: <script src="https://candor.example/widget.js" data-candor-origin="https://candor.example/"></script>
 * Any element with a data-candor-open attribute (a footer link) opens the preferences.
 *
 * It talks to candor only: GET /v1/notice, GET /v1/consents?anonymous_id=, POST /v1/consents.
 * candor serves this file followed by one line that hands over the current notice (what
 * GET /v1/notice answers), so a first-time visitor's banner needs no request of its own; the
 * widget asks GET /v1/notice only without it (a copy served from elsewhere), on a retry, or
 * when candor answers a choice with 409 because the notice changed meanwhile.
 * Nothing optional is on until the visitor says yes; if candor cannot be reached, nothing is
 * assumed and the host page carries on. JS API: candor.hasConsent(purpose),
 * candor.on('change', fn), candor.open(). Scripts tagged
 * <script type="text/plain" data-candor-purpose="p"> run once, when p is granted.
 */
(() => {
  'use strict';
  if (window.candor && window.candor.version) return; // embedded twice: the first one wins

  const script = document.currentScript || document.querySelector('script[data-candor-origin]');
  const base = new URL((script && (script.dataset.candorOrigin || new URL('.', script.src).href)) || '/', location.href)
    .href.replace(/\/?$/, '/');
  const endpoint = (path) => new URL(path, base).href;

  // ---- UI strings: one table per language, picked from <html lang>. ----
  const STRINGS = {
    en: {
      title: 'Your privacy choices',
      intro: '{org} would like to use some data to make this site better for you. Optional uses stay off unless you say yes, and you can change your mind at any time.',
      reprompt: 'We changed how we use your data for the purposes below. Please decide again:',
      changed: 'Our privacy notice has just changed. Please review your choices.',
      gpc: 'Your browser sends a Global Privacy Control signal, so this stays off unless you switch it on yourself: {list}.',
      accept: 'Accept all', reject: 'Reject all', acceptSome: 'Accept', rejectSome: 'Reject',
      choose: 'Choose', save: 'Save choices', close: 'Close',
      dialogIntro: 'Choose what {org} may do with your data. Optional purposes stay off unless you switch them on.',
      alwaysOn: 'Always on', objectable: 'On unless you object', changedBadge: 'Changed',
      data: 'Data', kept: 'Kept for', sharedWith: 'Shared with', unlocks: 'Unlocks',
      notice: 'Full privacy notice', questions: 'Questions?', error: 'Your choice could not be saved. Please try again.',
      day: ['day', 'days'], month: ['month', 'months'], year: ['year', 'years'],
      categories: { contact: 'contact details', behavior: 'how you use the site', 'behavior.browsing': 'products and pages you view',
        'behavior.purchase': 'what you buy', device: 'device details', location: 'location', profile: 'profile details', special: 'sensitive data' },
    },
    de: {
      title: 'Ihre Datenschutz-Einstellungen',
      intro: '{org} möchte einige Daten nutzen, um diese Seite für Sie zu verbessern. Optionales bleibt aus, solange Sie nicht zustimmen, und Sie können Ihre Wahl jederzeit ändern.',
      reprompt: 'Wir haben geändert, wie wir Ihre Daten für die folgenden Zwecke nutzen. Bitte entscheiden Sie erneut:',
      changed: 'Unsere Datenschutzhinweise haben sich gerade geändert. Bitte prüfen Sie Ihre Auswahl.',
      gpc: 'Ihr Browser sendet das Signal „Global Privacy Control“, daher bleibt dies aus, solange Sie es nicht selbst einschalten: {list}.',
      accept: 'Alle akzeptieren', reject: 'Alle ablehnen', acceptSome: 'Akzeptieren', rejectSome: 'Ablehnen',
      choose: 'Auswählen', save: 'Auswahl speichern', close: 'Schließen',
      dialogIntro: 'Wählen Sie, was {org} mit Ihren Daten tun darf. Optionale Zwecke bleiben aus, solange Sie sie nicht einschalten.',
      alwaysOn: 'Immer aktiv', objectable: 'Aktiv, solange Sie nicht widersprechen', changedBadge: 'Geändert',
      data: 'Daten', kept: 'Aufbewahrung', sharedWith: 'Weitergabe an', unlocks: 'Schaltet frei',
      notice: 'Vollständige Datenschutzhinweise', questions: 'Fragen?', error: 'Ihre Auswahl konnte nicht gespeichert werden. Bitte versuchen Sie es erneut.',
      day: ['Tag', 'Tage'], month: ['Monat', 'Monate'], year: ['Jahr', 'Jahre'],
      categories: { contact: 'Kontaktdaten', behavior: 'Nutzung der Seite', 'behavior.browsing': 'angesehene Produkte und Seiten',
        'behavior.purchase': 'Ihre Einkäufe', device: 'Geräteangaben', location: 'Standort', profile: 'Profilangaben', special: 'besonders schützenswerte Daten' },
    },
  };
  const lang = (document.documentElement.lang || navigator.language || 'en').trim().toLowerCase();
  const primary = lang.split(/[-_]/)[0];
  const ui = STRINGS[primary] || STRINGS.en;
  const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => vars[k]);

  /** A catalog text: a plain string, or a map of language code to string ("en" always present). */
  const text = (t) => {
    if (t == null || typeof t === 'string') return t || '';
    const codes = Object.keys(t);
    const pick = (want) => codes.find((c) => c.toLowerCase() === want);
    const code = pick(lang) || pick(primary) || 'en';
    return t[code] || t.en || t[codes[0]] || '';
  };

  const duration = (days) => {
    const [n, unit] = days >= 365 && days % 365 === 0 ? [days / 365, ui.year]
      : days >= 60 && days % 30 === 0 ? [days / 30, ui.month] : [days, ui.day];
    return `${n} ${unit[n === 1 ? 0 : 1]}`;
  };

  const category = (c) => ui.categories[c] || ui.categories[c.split('.')[0]] || c.replace(/[._]/g, ' ');

  // ---- The visitor's first-party anonymous id: localStorage, else a cookie. ----
  const ID_KEY = 'candor_id';
  const ID_RE = /^[A-Za-z0-9_-]{22,64}$/;
  const readId = () => {
    try {
      const v = localStorage.getItem(ID_KEY);
      if (v && ID_RE.test(v)) return v;
    } catch (e) { /* storage disabled: fall back to the cookie */ }
    const m = document.cookie.match(/(?:^|;\s*)candor_id=([A-Za-z0-9_-]{22,64})/);
    return m ? m[1] : null;
  };
  const makeId = () => {
    const bytes = new Uint8Array(18); // 144 random bits -> 24 characters
    crypto.getRandomValues(bytes);
    const id = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_');
    try {
      localStorage.setItem(ID_KEY, id);
      if (localStorage.getItem(ID_KEY) === id) return id;
    } catch (e) { /* fall back to the cookie */ }
    document.cookie = `${ID_KEY}=${id}; max-age=${395 * 86400}; path=/; SameSite=Lax${location.protocol === 'https:' ? '; Secure' : ''}`;
    return id;
  };

  // ---- State. ----
  const gpc = navigator.globalPrivacyControl === true;
  let notice = null; // GET /v1/notice
  let state = {}; // purpose -> granted | denied | withdrawn | objected; empty until candor answered
  let ask = []; // purposes the banner asks about; empty: no banner
  let firstVisit = true; // nothing recorded yet for this visitor
  let message = ''; // a notice shown above the banner's buttons (notice changed, save failed)
  let saving = false;
  let pendingOpen = false;
  const listeners = {};
  const ran = new WeakSet();

  const optional = (p) => p.legal_basis === 'consent' || p.legal_basis === 'legitimate_interest';
  const purpose = (id) => notice.purposes.find((p) => p.id === id);
  /** GPC says "no" for these unless the visitor says yes themselves. */
  const gpcHeld = (p) => gpc && p.gpc_opt_out;

  const emit = (event, detail) => (listeners[event] || []).forEach((f) => {
    try { f(detail); } catch (e) { setTimeout(() => { throw e; }); } // a host's bug must not stop the others
  });

  const setState = (next) => {
    const before = state;
    state = Object.assign({}, next);
    const changed = Object.keys(Object.assign({}, before, state)).filter((p) => (before[p] === 'granted') !== (state[p] === 'granted'));
    runGated();
    if (changed.length) emit('change', { purposes: Object.assign({}, state), changed });
  };

  /** What an undecided visitor's state is (mirrors the server's defaults, GPC included). */
  const defaults = () => Object.fromEntries(notice.purposes.map((p) => [p.id,
    p.legal_basis === 'consent' ? 'denied' : p.legal_basis === 'legitimate_interest' && gpcHeld(p) ? 'objected' : 'granted']));

  // ---- Talking to candor. ----
  const request = async (path, init) => {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), 10000);
    try {
      return await fetch(endpoint(path), Object.assign({ signal: ctl.signal }, init));
    } finally {
      clearTimeout(timer);
    }
  };
  const getJson = async (path) => {
    const res = await request(path);
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`candor answered ${res.status}`);
    return res.json();
  };

  /**
   * The notice candor appended to this script (see the end of the served file), taken once,
   * and only if this script came from the candor it talks to.
   */
  let embedded = true;
  const takeEmbedded = () => {
    const n = embedded && script ? script.candorNotice : null;
    embedded = false;
    if (script) script.candorNotice = undefined;
    return n && script.src && new URL('.', script.src).href === base ? n : null;
  };

  let attempt = 0;
  const load = async () => {
    const id = readId();
    // A returning visitor's own state, at once.
    const mine = id ? getJson(`v1/consents?anonymous_id=${encodeURIComponent(id)}`) : null;
    try {
      await null; // the rest of the script, the notice line included, has run by now
      // The notice: the copy that came with this script, else candor's answer, in parallel.
      let [n, s] = await Promise.all([takeEmbedded() || getJson('v1/notice'), mine]);
      // A cached script can carry an older notice than the one the visitor's state is about.
      if (n && s && s.notice_version > n.version) n = await getJson('v1/notice');
      if (!n || !Array.isArray(n.purposes)) throw new Error('no notice');
      attempt = 0;
      notice = n;
      firstVisit = !s;
      ask = s ? (s.needs_reconsent || []).filter((p) => purpose(p)) : notice.purposes.filter(optional).map((p) => p.id);
      render();
      setState(s ? s.purposes : defaults());
      if (pendingOpen) open();
      emit('ready', { purposes: Object.assign({}, state) });
      return true;
    } catch (e) {
      // Quietly try again later; until then nothing is assumed and the page carries on.
      const delay = Math.min(60000, 1000 * 2 ** attempt++) * (0.5 + Math.random() / 2);
      setTimeout(load, delay);
      return false;
    }
  };
  // Start now, before building anything: this is the critical path to the banner.
  load();

  const save = async (choices) => {
    if (saving || !notice) return;
    if (!Object.keys(choices).length && !gpc) return closeDialog(); // nothing to record
    busy(true);
    const body = { anonymous_id: readId() || makeId(), choices, notice_version: notice.version, source: 'widget', page: location.origin + location.pathname };
    if (gpc) body.gpc = true;
    try {
      const res = await request('v1/consents', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (res.status === 409) {
        // The notice changed while the visitor read it: show the new one and ask again.
        busy(false);
        closeDialog();
        if (await load()) {
          if (!ask.length) ask = Object.keys(choices);
          message = ui.changed;
          render();
        }
        return;
      }
      if (!res.ok) throw new Error(`candor answered ${res.status}`);
      const out = await res.json();
      busy(false);
      firstVisit = false;
      ask = (out.needs_reconsent || []).filter((p) => purpose(p));
      message = '';
      closeDialog();
      render();
      setState(Object.assign({}, state, out.state));
    } catch (e) {
      busy(false);
      message = ui.error;
      render();
      if (dialog) {
        const old = dialog.querySelector('.msg');
        if (old) old.remove();
        dialog.querySelector('.scroll').prepend(h('p', { class: 'msg', role: 'alert' }, message));
      }
    }
  };

  /** Yes or no to each of these purposes at once; on a first visit GPC keeps its purposes off. */
  const all = (ids, yes) => {
    const choices = {};
    ids.map(purpose).filter((p) => p && optional(p) && !(firstVisit && gpcHeld(p))).forEach((p) => { choices[p.id] = yes; });
    return save(choices);
  };
  const busy = (on) => {
    saving = on;
    root.querySelectorAll('button').forEach((b) => { b.disabled = on; });
  };

  // ---- Gated scripts: <script type="text/plain" data-candor-purpose="p [q]">, run once. ----
  const runGated = () => {
    document.querySelectorAll('script[type="text/plain"][data-candor-purpose]').forEach((el) => {
      const needs = el.getAttribute('data-candor-purpose').split(/\s+/).filter(Boolean);
      if (ran.has(el) || !needs.length || !needs.every(hasConsent)) return;
      ran.add(el);
      const run = document.createElement('script');
      for (const a of el.attributes) if (a.name !== 'type' && a.name !== 'data-candor-purpose') run.setAttribute(a.name, a.value);
      if (el.dataset.candorType) run.type = el.dataset.candorType;
      if (!el.src) run.text = el.text;
      el.after(run);
    });
  };
  const hasConsent = (p) => state[p] === 'granted';

  // ---- Rendering, inside a shadow root so the host page's CSS cannot reach in. ----
  const h = (tag, attrs, ...children) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'checked' || k === 'disabled') el[k] = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
    el.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
    return el;
  };

  const CSS = `
:host{all:initial}
*{box-sizing:border-box}
.wrap{--accent:var(--candor-accent,#1f3a5f);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1b2431;-webkit-font-smoothing:antialiased}
.banner{position:fixed;z-index:2147483000;left:50%;bottom:16px;transform:translateX(-50%);width:calc(100% - 32px);max-width:720px;background:#fff;border:1px solid #d5dbe3;border-radius:14px;box-shadow:0 12px 40px rgba(15,23,42,.18);padding:20px 24px}
h2{font-size:17px;line-height:1.3;font-weight:650;margin:0 0 6px;color:#111827}
p{margin:0 0 12px}
.list{margin:0 0 14px;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:6px}
.list li{background:#eef2f7;border-radius:999px;padding:3px 12px;font-size:14px}
.note{font-size:14px;color:#3f4a5a;background:#f5f7fa;border-left:3px solid var(--accent);padding:8px 12px;border-radius:4px}
.msg{font-size:14px;font-weight:600;color:#8a1c1c;margin:0 0 12px}
.actions{display:flex;flex-wrap:wrap;gap:10px;align-items:center}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px;flex:1 1 340px}
button{font:inherit;font-weight:600;font-size:15px;line-height:1.2;min-height:44px;padding:10px 18px;border-radius:8px;cursor:pointer;margin:0}
button:disabled{opacity:.6;cursor:progress}
.solid{background:var(--accent);color:#fff;border:2px solid var(--accent)}
.solid:hover:not(:disabled){filter:brightness(1.15)}
.plain{background:#fff;color:var(--accent);border:2px solid var(--accent)}
.plain:hover:not(:disabled){background:#f0f4f9}
button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid #2563eb;outline-offset:2px}
.overlay{position:fixed;z-index:2147483001;inset:0;background:rgba(15,23,42,.5);display:flex;align-items:center;justify-content:center;padding:16px}
.dialog{background:#fff;border-radius:14px;box-shadow:0 20px 60px rgba(15,23,42,.35);width:100%;max-width:640px;max-height:calc(100vh - 32px);display:flex;flex-direction:column}
.dialog:focus{outline:none}
.head{display:flex;justify-content:space-between;align-items:center;gap:16px;padding:20px 24px 4px}
.x{min-height:36px;min-width:36px;padding:0;background:#fff;color:#1b2431;border:1px solid #c3cbd6;border-radius:50%;font-size:20px;line-height:1}
.scroll{overflow:auto;padding:0 24px}
.purpose{border-top:1px solid #e3e8ef;padding:14px 0}
.row{display:flex;justify-content:space-between;align-items:center;gap:16px}
.row label,.row .name{font-weight:650;color:#111827;cursor:pointer}
.desc{margin:4px 0 0}
.meta{margin:6px 0 0;font-size:13.5px;color:#465264}
.meta span{display:inline-block;max-width:100%}
.meta b{font-weight:600;color:#2c3644}
.tag{display:inline-block;font-size:13px;font-weight:600;border-radius:999px;padding:2px 10px;white-space:nowrap}
.on{color:#14532d;background:#e3f4e8}
.changed{color:#7a3b00;background:#fdf0dc;margin-left:8px}
.benefit{display:inline-block;margin-top:8px;font-size:13.5px;color:#14532d;background:#e9f7ee;border-radius:8px;padding:3px 10px}
input[role=switch]{appearance:none;-webkit-appearance:none;flex:none;position:relative;width:46px;height:26px;margin:0;border-radius:13px;background:#6b7484;cursor:pointer;transition:background .15s}
input[role=switch]::before{content:"";position:absolute;top:3px;left:3px;width:20px;height:20px;border-radius:50%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.3);transition:transform .15s}
input[role=switch]:checked{background:var(--accent)}
input[role=switch]:checked::before{transform:translateX(20px)}
.foot{border-top:1px solid #e3e8ef;padding:14px 24px 20px}
.foot .pair{grid-template-columns:1fr 1fr 1fr;width:100%}
.foot button{padding:10px 12px}
.links{margin:10px 0 16px;font-size:14px;color:#465264}
.links a{color:var(--accent)}
@media (max-width:520px){.foot .pair{grid-template-columns:1fr}.pair{flex-basis:100%}}
@media (prefers-reduced-motion:reduce){*{transition:none!important}}`;

  const host = h('div', { 'data-candor': '' });
  const root = host.attachShadow({ mode: 'open' });
  if (root.adoptedStyleSheets && window.CSSStyleSheet) {
    // A constructed sheet is not subject to the host's style-src CSP.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(h('style', {}, CSS));
  }
  const wrap = h('div', { class: 'wrap' });
  root.append(wrap);
  let banner = null;
  let dialog = null;
  let returnFocus = null;

  const mount = () => {
    if (!host.isConnected) (document.body || document.documentElement).prepend(host);
  };

  const titles = (ids) => ids.map((id) => text(purpose(id).title));

  const render = () => {
    const focused = root.activeElement && root.activeElement.dataset.k;
    if (banner) banner.remove();
    banner = null;
    if (notice && ask.length && !dialog) {
      const held = firstVisit ? notice.purposes.filter((p) => optional(p) && gpcHeld(p)) : [];
      const some = !firstVisit;
      banner = h('section', { class: 'banner', 'aria-labelledby': 'candor-title' },
        h('h2', { id: 'candor-title' }, ui.title),
        h('p', {}, some ? ui.reprompt : fill(ui.intro, { org: notice.organization.name })),
        h('ul', { class: 'list' }, titles(ask).map((t) => h('li', {}, t))),
        held.length ? h('p', { class: 'note' }, fill(ui.gpc, { list: held.map((p) => text(p.title)).join(', ') })) : null,
        message ? h('p', { class: 'msg', role: 'alert' }, message) : null,
        h('div', { class: 'actions' },
          h('button', { class: 'plain', type: 'button', 'data-k': 'choose', onclick: () => open() }, ui.choose),
          h('div', { class: 'pair' },
            h('button', { class: 'solid', type: 'button', 'data-k': 'reject', onclick: () => all(ask, false) }, some ? ui.rejectSome : ui.reject),
            h('button', { class: 'solid', type: 'button', 'data-k': 'accept', onclick: () => all(ask, true) }, some ? ui.acceptSome : ui.accept))));
      wrap.append(banner);
      mount();
      if (focused) {
        const again = banner.querySelector(`[data-k="${focused}"]`);
        if (again) again.focus();
      }
    }
  };

  // ---- The preferences dialog. ----
  const purposeCard = (p) => {
    const id = `candor-p-${p.id}`;
    const meta = [];
    const cats = [...new Set((p.categories || []).map(category))];
    if (p.fields && p.fields.length) meta.push([ui.data, `${cats.join(', ')} (${p.fields.map((f) => f.name).join(', ')})`]);
    meta.push([ui.kept, duration(p.retention_days)]);
    const procs = (p.processors || []).map((pid) => {
      const proc = (notice.processors || []).find((x) => x.id === pid);
      return (proc && proc.name) || pid;
    });
    if (procs.length) meta.push([ui.sharedWith, procs.join(', ')]);
    const control = optional(p)
      ? h('input', { type: 'checkbox', role: 'switch', id, 'data-purpose': p.id, 'aria-describedby': `${id}-d`, checked: hasConsent(p.id) })
      : h('span', { class: 'tag on' }, ui.alwaysOn);
    const name = optional(p) ? h('label', { for: id }, text(p.title)) : h('span', { class: 'name' }, text(p.title));
    return h('div', { class: 'purpose' },
      h('div', { class: 'row' },
        h('div', {}, name, ask.includes(p.id) && !firstVisit ? h('span', { class: 'tag changed' }, ui.changedBadge) : null),
        control),
      h('p', { class: 'desc', id: `${id}-d` }, text(p.description),
        p.legal_basis === 'legitimate_interest' ? ` (${ui.objectable})` : ''),
      h('p', { class: 'meta' }, meta.map(([k, v], i) => [i ? ' · ' : '', h('span', {}, h('b', {}, `${k}: `), v)])),
      (p.benefits || []).map((b) => h('div', { class: 'benefit' }, h('b', {}, `${ui.unlocks}: `), text(b.title))));
  };

  const contactLink = (c) => {
    if (!c) return null;
    const href = /^[^\s@]+@[^\s@]+$/.test(c) ? `mailto:${c}` : /^https?:\/\//.test(c) ? c : null;
    return [' · ', `${ui.questions} `, href ? h('a', { href }, c) : c];
  };

  const focusables = () => [...dialog.querySelectorAll('button:not(:disabled), input:not(:disabled), a[href]')];

  const open = () => {
    if (!notice) {
      pendingOpen = true;
      return;
    }
    pendingOpen = false;
    if (dialog) return;
    const active = document.activeElement === host ? root.activeElement : document.activeElement;
    returnFocus = active && active !== document.body ? active : null;
    const saveChoices = () => {
      const choices = {};
      dialog.querySelectorAll('input[data-purpose]').forEach((sw) => {
        const p = purpose(sw.dataset.purpose);
        const was = hasConsent(p.id);
        // Explicit: what changed, and every purpose being asked about, except a "no" GPC already says.
        if (sw.checked !== was || (ask.includes(p.id) && !(gpcHeld(p) && !sw.checked && firstVisit))) choices[p.id] = sw.checked;
      });
      save(choices);
    };
    const org = notice.organization.name;
    const everything = notice.purposes.filter(optional).map((p) => p.id);
    dialog = h('div', { class: 'overlay' },
      h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'candor-dlg-title', 'aria-describedby': 'candor-dlg-intro', tabindex: '-1',
        onkeydown: (e) => {
          if (e.key === 'Escape') {
            e.preventDefault();
            closeDialog();
          } else if (e.key === 'Tab') {
            const f = focusables();
            const cur = root.activeElement;
            const i = f.indexOf(cur);
            if (e.shiftKey && i <= 0) {
              e.preventDefault();
              f[f.length - 1].focus();
            } else if (!e.shiftKey && (i === f.length - 1 || i < 0)) {
              e.preventDefault();
              f[0].focus();
            }
          }
        } },
      h('div', { class: 'head' },
        h('h2', { id: 'candor-dlg-title' }, ui.title),
        h('button', { class: 'x', type: 'button', 'aria-label': ui.close, onclick: () => closeDialog() }, '×')),
      h('div', { class: 'scroll' },
        h('p', { id: 'candor-dlg-intro' }, fill(ui.dialogIntro, { org })),
        message ? h('p', { class: 'msg', role: 'alert' }, message) : null,
        notice.purposes.map(purposeCard),
        h('p', { class: 'links' },
          h('a', { href: endpoint('privacy'), target: '_blank', rel: 'noopener' }, ui.notice),
          contactLink(notice.organization.contact))),
      h('div', { class: 'foot' },
        h('div', { class: 'pair' },
          h('button', { class: 'solid', type: 'button', onclick: () => all(everything, false) }, ui.reject),
          h('button', { class: 'solid', type: 'button', onclick: () => all(everything, true) }, ui.accept),
          h('button', { class: 'solid', type: 'button', onclick: saveChoices }, ui.save)))));
    if (banner) banner.remove();
    banner = null;
    wrap.append(dialog);
    mount();
    dialog.firstChild.focus();
  };

  function closeDialog() {
    if (!dialog) return;
    dialog.remove();
    dialog = null;
    render();
    const back = returnFocus && returnFocus.isConnected ? returnFocus : banner && banner.querySelector('[data-k="choose"]');
    returnFocus = null;
    if (back) back.focus();
  }

  // Focus that leaves an open dialog (a click behind it, a script) is brought back.
  document.addEventListener('focusin', (e) => {
    if (dialog && e.target !== host) dialog.firstChild.focus();
  });
  // Any element of the host page marked data-candor-open opens the preferences.
  document.addEventListener('click', (e) => {
    const t = e.target.closest && e.target.closest('[data-candor-open]');
    if (t) {
      e.preventDefault();
      open();
    }
  });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', runGated);

  window.candor = {
    version: 1,
    /** Whether the visitor currently grants this purpose (false until candor has answered). */
    hasConsent,
    /** Listens to 'change' ({purposes, changed}) or 'ready' ({purposes}); returns an unsubscribe function. */
    on(event, f) {
      (listeners[event] = listeners[event] || []).push(f);
      return () => { listeners[event] = listeners[event].filter((g) => g !== f); };
    },
    /** Opens the preferences dialog. */
    open,
  };
})();
