/** Node's native UTF-8 for the protocol decoders: the portable one is a tenth of ingest's CPU. */

import type { TextCodec } from '../firmware/core/protocol.js';

// ignoreBOM: a leading BOM stays in the text (and fails JSON), as with the portable decoder.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export const NODE_TEXT: TextCodec = {
  encode: (text) => Buffer.from(text, 'utf8'),
  decode: (bytes) => {
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return undefined; // malformed: the decoder names it not-utf8
    }
  },
};
