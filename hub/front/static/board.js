// The hall board: the whole state from the hub's event stream (/api/board/stream), drawn on
// every 'state'; announcements played one after another on the audio element, in the order
// they start at the hub. EventSource reconnects by itself after a hub restart; a stream silent
// for 45 s (the hub pings every 15 s) is reopened, so the board never sits on a dead link.
// The clock follows the hub's time (the state's `at`), not the TV's.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const SILENT_MS = 45000;
  let es;
  let lastHeard = Date.now();
  let skew = 0;
  let offset = 480;
  const queue = [];
  let playing = false;
  /** What the audio element was given, in order (read by the tests and by technicians in the console). */
  window.sannuoAnnounced = [];

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function local(t) {
    return new Date(t + offset * 60000);
  }

  function tick() {
    const d = local(Date.now() + skew);
    const p = (n) => String(n).padStart(2, '0');
    $('time').textContent = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
    $('date').textContent = `${d.getUTCFullYear()}年${d.getUTCMonth() + 1}月${d.getUTCDate()}日 星期${'日一二三四五六'[d.getUTCDay()]}`;
    if (Date.now() - lastHeard > SILENT_MS) connect();
  }

  function draw(s) {
    skew = s.at - Date.now();
    offset = s.utcOffsetMinutes;
    $('hall').textContent = s.hallName;
    const cur = s.calls[0];
    const current = $('current');
    current.replaceChildren();
    if (cur) {
      current.append(el('span', 'number', cur.number), el('span', 'to', `请到 ${cur.winName}`), el('span', 'item', cur.itemName));
      current.dataset.number = cur.number;
      // Flash for the first 30 s after the call.
      current.classList.toggle('flash', Date.now() + skew - cur.at < 30000);
    } else { current.textContent = '—'; delete current.dataset.number; current.classList.remove('flash'); }
    $('calls').replaceChildren(...s.calls.map((c, i) => {
      const li = el('li', i === 0 ? 'latest' : '');
      li.append(el('span', 'number', c.number), el('span', 'win', c.winName), el('span', 'item', c.itemName));
      return li;
    }));
    $('waiting').replaceChildren(...s.items.map((i) => {
      const li = el('li');
      li.append(el('span', 'item', i.name), el('span', 'n', `${i.waiting} 人`));
      return li;
    }));
    $('windows').replaceChildren(...s.windows.map((w) => {
      const li = el('li', w.paused ? 'paused' : '');
      li.dataset.win = w.id;
      li.append(el('span', 'win', w.name), el('span', 'state', w.paused ? `暂停服务${w.pauseReason ? '（' + w.pauseReason + '）' : ''}` : (w.current ? `正在办理 ${w.current}` : '空闲')));
      return li;
    }));
    const n = $('notice');
    n.textContent = s.notice;
    n.hidden = !s.notice;
    $('hours').textContent = `办公时间：${s.hours}`;
  }

  function playNext() {
    if (playing || queue.length === 0) return;
    playing = true;
    const a = queue.shift();
    const audio = $('voice');
    window.sannuoAnnounced.push({ id: a.id, number: a.number, win: a.win, at: Date.now() });
    audio.src = a.url;
    let done = false;
    const next = () => { if (done) return; done = true; playing = false; playNext(); };
    audio.onended = next;
    audio.onerror = next;
    // Without sound (autoplay refused, no speaker) the next still waits its turn.
    setTimeout(next, a.durationMs + 500);
    const p = audio.play();
    if (p && p.catch) p.catch(() => undefined);
  }

  function connect() {
    if (es) es.close();
    lastHeard = Date.now();
    es = new EventSource('/api/board/stream');
    const heard = () => { lastHeard = Date.now(); };
    es.onmessage = heard;
    es.onopen = heard;
    es.addEventListener('state', (e) => { heard(); draw(JSON.parse(e.data)); });
    es.addEventListener('announce', (e) => { heard(); queue.push(JSON.parse(e.data)); playNext(); });
    es.addEventListener('ping', heard);
  }

  setInterval(tick, 1000);
  connect();
  tick();
})();
