import { EspeakVoice } from '../hub/front/speech.js';
import { durationMs } from '../hub/front/wav.js';
const v = new EspeakVoice({ cacheDir: '/tmp/ann-cache-x' });
(async () => { for (const p of ['请', 'A', '零', '四', '号', '到', '一号窗口', '办理', 'A零四二号']) console.log(p, durationMs(await v.phrase(p))); })();
