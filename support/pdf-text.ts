/**
 * The text of a PDF, as a reader would copy it (pdf-parse, on PDF.js). It runs in a child Node
 * process: PDF.js loads its worker with a dynamic import, which jest's VM sandbox refuses.
 */

import { execFile } from 'node:child_process';

const EXTRACT = `
import { PDFParse } from 'pdf-parse';
const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const parser = new PDFParse({ data: new Uint8Array(Buffer.concat(chunks)) });
process.stdout.write((await parser.getText()).text);
await parser.destroy();
`;

export function pdfText(pdf: Uint8Array): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', EXTRACT], { cwd: process.cwd(), maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`pdf text: ${stderr || error.message}`));
      else resolve(stdout);
    });
    child.stdin!.end(pdf);
  });
}
