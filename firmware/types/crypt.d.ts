/**
 * Moddable's native digests (modules/crypt/digest). @moddable/typings 5.6.0 lacks this module;
 * newer SDK typings (typings/crypt.d.ts) have it, so mcconfig builds use theirs and this file is
 * only for `tsc -p firmware`.
 */
declare module "crypt" {
  type DigestType = "MD5" | "SHA1" | "SHA224" | "SHA256" | "SHA384" | "SHA512";
  export class Digest {
    constructor(type: DigestType);
    write(message: string | ArrayBuffer | Uint8Array): void;
    close(): ArrayBuffer;
    reset(): void;
    get blockSize(): number;
    get outputSize(): number;
  }
}
