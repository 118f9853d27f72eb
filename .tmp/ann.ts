import { Announcer } from '../hub/front/announcer.js';
import { EspeakVoice } from '../hub/front/speech.js';
const v = new EspeakVoice({ cacheDir: '/tmp/ann-cache-' + Date.now() });
const a = new Announcer({ voice: v, mergeMs: 5000, gapMs: 400 });
const t0 = performance.now();
a.on((x) => { console.log('start', x.number, Math.round(performance.now() - t0)); });
for (let i = 1; i <= 3; i++) a.request({ kind: 'call', number: `A00${i}`, win: `W${i}`, winSpoken: `${i}号窗口`, at: Date.now() });
setTimeout(() => process.exit(0), 20000);
