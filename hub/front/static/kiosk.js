// The ticket kiosk's page. Its kiosk API token comes once in the URL fragment (/kiosk/#token=…,
// never sent to a server or written to a log) and is kept in localStorage; every call sends it
// as a Bearer token. A tap locks the buttons for 2 s (the hub also answers a double tap with
// the first ticket).
'use strict';
(function () {
  const KEY = 'sannuo-kiosk-token';
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) { localStorage.setItem(KEY, decodeURIComponent(m[1])); history.replaceState(null, '', location.pathname); }
  const token = localStorage.getItem(KEY);
  const $ = (id) => document.getElementById(id);
  let priority = 'normal';
  let locked = false;
  let hideTimer;

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function api(method, path, body) {
    const res = await fetch(path, { method, headers: { authorization: 'Bearer ' + token, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    let data = null;
    try { data = await res.json(); } catch { /* empty */ }
    return { ok: res.ok, status: res.status, data };
  }

  function show(kind, lines) {
    const r = $('result');
    r.className = kind;
    r.replaceChildren(...lines.map((l, i) => el(i === 0 ? 'strong' : 'p', {}, l)));
    r.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(() => { r.hidden = true; }, 10000);
  }

  function printerBanner(p) {
    const b = $('printer');
    if (p && p.message) { b.textContent = p.message; b.hidden = false; } else b.hidden = true;
  }

  async function take(item, prio, caseNo) {
    if (locked) return;
    locked = true;
    document.body.classList.add('busy');
    setTimeout(() => { locked = false; document.body.classList.remove('busy'); }, 2000);
    show('wait', ['正在出票，请稍候…']);
    const r = await api('POST', '/api/kiosk/tickets', { item, priority: prio, ...(caseNo ? { caseNo } : {}) }).catch(() => ({ ok: false, status: 0, data: null }));
    if (r.ok) {
      const t = r.data;
      show('ok', [`请取票：${t.number}`, `${t.itemName}　前面还有 ${t.ahead} 人`, t.windows.length ? `办理窗口：${t.windows.join('、')}` : '请留意叫号']);
    } else {
      show('error', [r.data && r.data.message ? r.data.message : '取号失败，请到服务台咨询', r.status === 0 ? '网络中断 (no connection)' : '']);
    }
    refreshPrinter();
  }

  async function refreshPrinter() {
    const r = await api('GET', '/api/kiosk/printer').catch(() => null);
    if (r && r.ok) printerBanner(r.data);
  }

  async function load() {
    if (!token) { show('error', ['本机未配置取号令牌，请联系管理员 (no kiosk token: open /kiosk/#token=…)']); return; }
    const r = await api('GET', '/api/kiosk/menu').catch(() => null);
    if (!r || !r.ok) { show('error', [r && r.data ? r.data.message : '无法连接服务器，请稍后再试']); setTimeout(load, 5000); return; }
    const menu = r.data;
    $('hall').textContent = `${menu.hallName} · 自助取号`;
    printerBanner(menu.printer);
    const items = $('items');
    const select = $('checkin-item');
    items.replaceChildren();
    select.replaceChildren();
    for (const d of menu.departments) {
      const sec = el('div', { class: 'dept' });
      sec.append(el('h2', {}, d.name));
      for (const i of d.items) {
        const b = el('button', { type: 'button', 'data-item': i.code }, i.name);
        b.addEventListener('click', () => take(i.code, priority));
        sec.append(b);
        select.append(el('option', { value: i.code }, i.name));
      }
      items.append(sec);
    }
  }

  for (const b of document.querySelectorAll('#classes button')) {
    b.addEventListener('click', () => {
      priority = b.getAttribute('data-priority');
      for (const o of document.querySelectorAll('#classes button')) o.classList.toggle('on', o === b);
    });
  }
  $('checkin-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const caseNo = $('caseNo').value.trim();
    if (!caseNo) { show('error', ['请输入预约号']); return; }
    take($('checkin-item').value, 'appointment', caseNo);
    $('caseNo').value = '';
  });
  setInterval(refreshPrinter, 30000);
  load();
})();
