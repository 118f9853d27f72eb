/**
 * Moddable's ESP32 OTA module ($(BUILD)/devices/esp32/modules/ota, used by
 * examples/network/http/httpota): begins the next OTA app partition, writes it, and either
 * marks it to boot (complete) or drops it (cancel). Not in @moddable/typings 5.6.0.
 */
declare module "ota" {
  export default class OTA {
    constructor(options?: { byteLength?: number });
    write(bytes: ArrayBuffer): void;
    complete(): void;
    cancel(): void;
  }
}
