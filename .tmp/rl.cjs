const rl = require('receiptline'); const QR = require('qrcode');
(async()=>{
const png = await QR.toBuffer('https://hall.example/r/abc', {type:'png', margin:2, scale:4});
const doc = `^^^A042\n个人所得税申报 | 3号窗口\n前面还有 ^2 人\n{image:${png.toString('base64')}}\n---\n{c:x}`;
const out = rl.transform(doc, {command:'escpos', encoding:'gb18030', cpl:42, cutting:true});
const b = Buffer.from(out,'binary'); console.log(b.length); 
console.log(JSON.stringify(out.replace(/\x1dv0[\s\S]*?(?=\x1b|\x1d[^v])/,'<IMG>')).slice(0,3000));
})();
