/** The device's network link, below MQTT: Wi-Fi on the ESP32, the host's own on lin. */
export interface NetworkEvents {
  onUp(): void;
  onDown(): void;
}

export interface Network {
  start(events: NetworkEvents): void;
  /** Wi-Fi RSSI in dBm, 0 when unknown or not on Wi-Fi. */
  rssi(): number;
}
