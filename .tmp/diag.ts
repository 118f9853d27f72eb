import { startHub, setUpHall } from '../support/hub.js';
import type { Board } from '../hub/front/board.js';
(async () => {
  const f = await startHub({});
  const wins = Array.from({ length: 12 }, (_, i) => `W${i + 1}`);
  await f.api('PUT', '/api/queue/departments/D1', { name: 'x' });
  await f.api('PUT', '/api/queue/items/I1', { name: '营业执照', department: 'D1', prefix: 'A', limitDays: 0 });
  for (const [i, w] of wins.entries()) { await f.api('PUT', `/api/queue/windows/${w}`, { name: `${i + 1}号窗口`, items: ['I1'] }); await f.api('PUT', `/api/queue/staff/s${i}`, { name: 's', department: 'D1' }); await f.api('POST', `/api/queue/windows/${w}/sign-in`, { staff: `s${i}` }); }
  for (let i = 0; i < 30; i++) await f.api('POST', '/api/queue/tickets', { item: 'I1', priority: 'normal' });
  const ds = []; for (const [i, w] of wins.entries()) ds.push(await f.device('display', w, `d${i}`));
  const board = f.hub.halls()[0].features.find((x) => x.name === 'board') as Board;
  const ann = board.announcer!;
  const t0 = { v: 0 };
  const orig = ann.request.bind(ann);
  (ann as any).request = (r: any) => { console.log('request', r.number, Math.round(performance.now() - t0.v)); return orig(r); };
  ann.on((a) => console.log('start', a.number, Math.round(performance.now() - t0.v)));
  f.hub.halls()[0].bus.on('eventCommitted', 'diag', ({ dev }) => console.log('committed', dev, Math.round(performance.now() - t0.v)));
  await new Promise((r) => setTimeout(r, 3000));
  t0.v = performance.now();
  await Promise.all(ds.map((d) => d.send('call', { win: d.config.win, staff: null })));
  await new Promise((r) => setTimeout(r, 8000));
  await f.stop(); process.exit(0);
})();
