/**
 * Firmware entry on Moddable: read the config, build the hardware, start the device core, then
 * bring up the network and MQTT. The role (rating pad or window display) comes from the config.
 */
import { Device } from './core/index.js';
import { createPlatform, deviceId, platformName } from 'moddable/platform';
import { loadConfig } from './moddable/config.js';
import { buildHardware, createDisplay } from './moddable/hardware.js';
import { ModdableTimers } from './moddable/timers.js';
import { TraceDisplay } from './moddable/display-trace.js';
import { saveSettings } from './moddable/settings.js';
import { createImageWriter, installedVersion } from 'moddable/update-writer';
import { HttpChunkFetcher } from './moddable/http-fetcher.js';
import { moddableUpdateCrypto } from './moddable/update-crypto.js';
import { createHubFinder } from 'moddable/hub-finder';
import { needsDiscovery, resolveBroker } from './core/discovery.js';

function boot(): void {
  const { device: config, board } = loadConfig(deviceId);
  const timers = new ModdableTimers();
  const platform = createPlatform(board, config.keyPins, config.volume, timers);
  const display = createDisplay(board);
  platform.afterDisplay(display, config.role);
  const { hardware, transport } = buildHardware(config, board, platform, display, timers);

  // Over-the-air updates (core/update.ts) where the device was provisioned with the hub's release key.
  const installed = installedVersion(hardware.storage);
  const update = config.releaseKey === null ? undefined : {
    writer: createImageWriter({ flash: hardware.flash, storage: hardware.storage, versionOf: () => device.updater?.progress()?.v ?? '', restart: restartBoard }),
    fetcher: new HttpChunkFetcher(),
    crypt: moddableUpdateCrypto,
  };
  const device: Device = new Device(installed ? { ...config, fw: installed } : config, hardware, {
    update,
    // The hub's config command outlives a reboot: Preference overrides the manifest at boot.
    onSettings: (settings) => {
      saveSettings(settings);
      platform.sound.setVolume(settings.volume);
    },
  });
  const credentials = device.mqttCredentials();
  transport.bind(
    { clientId: config.id, username: credentials.username, password: credentials.password, will: device.will(), subscriptions: device.subscriptions() },
    { onConnected: () => device.onConnected(), onDisconnected: () => device.onDisconnected(), onMessage: (topic, payload) => device.onMessage(topic, payload) },
  );
  trace(`sannuo ${config.fw} on ${platformName}: ${device.role} ${config.id}, site ${config.site}, window ${config.win}\n`);
  device.start();
  // A `.local` broker (the default, sannuo-hub.local) is looked up over mDNS each time the network comes up; a fixed host is used as it is.
  const finder = needsDiscovery(config.broker.host) ? createHubFinder() : undefined;
  platform.network.start({
    onUp: () => resolveBroker(config.broker, config.site, finder, (address) => {
      if (finder) trace(`mdns: hub ${config.broker.host} is ${address.host}:${address.port}\n`);
      transport.setBroker(address.host, address.port);
      transport.networkUp();
    }),
    onDown: () => { finder?.stop(); transport.networkDown(); },
  });
}

/** After an update switched partitions. Moddable's restart is the host's; where there is none (lin), the app says so and runs on. */
function restartBoard(): void {
  trace('sannuo: update installed; restarting\n');
  const restart = (globalThis as { restart?: () => void }).restart;
  if (restart) restart();
}

try {
  boot();
} catch (error) {
  // A device that cannot start says why, on its log and (if it has one) its screen.
  const message = error instanceof Error ? error.message : String(error);
  trace(`sannuo: cannot start: ${message}\n`);
  new TraceDisplay().render({ screen: 'notice', text: `无法启动: ${message}`, online: false });
}
