/** Moddable's HMAC (modules/crypt/etc/hmac.js) over a native Digest; not in @moddable/typings. */
declare module "hmac" {
  import type { Digest } from "crypt";
  export default class HMAC {
    constructor(digest: Digest, key: ArrayBuffer | Uint8Array, bitLength?: number);
    /** Resets to the key, writes every item, returns the MAC. */
    process(...items: (ArrayBuffer | Uint8Array)[]): ArrayBuffer;
  }
}
