/**
 * A district's Mosquitto password and ACL files, from every registered hall's devices (any hub
 * may have provisioned them) and every hub's own user; the text is hub/mqtt/mosquitto.ts's
 * (mosquittoTexts). Rewritten only when the device or hub list changed, one write at a time.
 * Device ids are MQTT user names, so they must be unique in the district.
 */

import type { Logger } from 'pino';
import type { Db } from '../db/db.js';
import { dataPath, type Settings } from '../settings.js';
import { districtHubUsername, nodeHmac, type DeviceRecord, type HubIdentity } from '../devices/registry.js';
import { mosquittoTexts, reloadMosquitto, writeMosquittoTexts } from '../mqtt/mosquitto.js';
import { HUBS, hallSchema, type LeaseStore } from './lease.js';
import { deriveMqttPassword } from '../../firmware/core/protocol.js';
import { fromHex } from '../../firmware/core/utf8.js';
import { openAll, type DeviceSecrets } from '../devices/secrets.js';

export class DistrictMosquitto {
  private print = '';
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly settings: Settings, private readonly db: Db, private readonly leases: LeaseStore,
    private readonly hubId: string, private readonly identity: HubIdentity, private readonly log: Logger,
    /** The district's hubs share one hub key (deploy/: SANNUO_HUB_KEY), so any of them opens any hall's secrets. */
    private readonly secrets: DeviceSecrets,
  ) {}

  write(): Promise<void> {
    this.writing = this.writing.then(() => this.writeNow()).catch((error) => this.log.error({ err: error }, 'writing Mosquitto files failed'));
    return this.writing;
  }

  private async writeNow(): Promise<void> {
    const s = this.settings;
    const devices: DeviceRecord[] = [];
    try {
      for (const lease of await this.leases.list()) {
        const rows = await this.db.all<DeviceRecord>(`SELECT id, role, site, win, fw, secret, created FROM ${hallSchema(lease.hall)}.devices ORDER BY id`)
          .catch(() => [] as DeviceRecord[]); // a hall never served yet has no tables
        devices.push(...openAll(rows, this.secrets));
      }
    } catch (error) {
      // The files stay as they were: written without a device, it could no longer log in.
      this.log.error({ err: String(error) }, 'cannot read the district\'s devices for Mosquitto');
      return;
    }
    let hubs: string[];
    try {
      hubs = [...new Set([this.hubId, ...(await this.db.all<{ hub: string }>(`SELECT hub FROM ${HUBS} ORDER BY hub`)).map((r) => r.hub)])];
    } catch (error) {
      this.log.warn({ err: String(error) }, 'cannot read the district\'s hubs for Mosquitto');
      return;
    }
    const print = [...hubs, ...devices.map((d) => `${d.site}/${d.id}/${d.secret}`)].join('\n');
    if (print === this.print) return;
    const ids = new Set<string>();
    for (const d of devices) {
      if (ids.has(d.id)) this.log.error({ dev: d.id }, 'device id provisioned in two halls: MQTT user names must be unique in a district');
      ids.add(d.id);
    }
    const dir = s.mosquitto.dir || dataPath(s, 'mosquitto');
    writeMosquittoTexts(mosquittoTexts({
      hub: this.identity,
      hubUsers: hubs.map((h) => districtHubUsername(this.identity.username, h)),
      devices: devices.map((d) => ({ id: d.id, site: d.site, password: deriveMqttPassword(fromHex(d.secret)!, nodeHmac) })),
      header: '# written by the sannuo hubs of this district from every hall\'s devices; edits are overwritten',
    }), dir, s.mosquitto.user);
    this.print = print;
    if (s.mosquitto.pidFile && !reloadMosquitto(s.mosquitto.pidFile)) this.log.warn({ pidFile: s.mosquitto.pidFile }, 'could not signal Mosquitto to reload its password and ACL files');
    this.log.info({ dir, devices: devices.length }, 'Mosquitto password and ACL files written for the district');
  }
}
