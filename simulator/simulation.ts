/**
 * A whole simulated run: scenario → VirtualTime, Hall (devices, citizens, staff), Driver.
 * Used by `sannuo sim`, `sannuo start`, the tests and the benchmark alike.
 *
 * Under virtual time the hub must read the same clock (Hub options.now = simulation.time.now),
 * or times the hub stamps (service times, rating requests' expiry) depend on the wall clock.
 */

import type { Logger } from 'pino';
import { Driver } from './driver.js';
import { Hall } from './hall.js';
import { HubClient } from './hub-client.js';
import { scenarioStart, type FaultSpec, type Scenario } from './scenario.js';
import { VirtualTime } from './virtual-time.js';

export interface SimulationOptions {
  scenario: Scenario;
  /** http://host:port of the hub's API. */
  hub: string;
  /** API token for provisioning and hall set-up (else SANNUO_API_TOKEN). */
  token?: string;
  /** mqtt://host:port the devices connect to. */
  mqtt: string;
  /** Device configs and flash persist here (a restarted simulator keeps its outboxes). */
  stateDir?: string;
  log?: Logger;
  /** Shared clock; created from the scenario (its start, or now in real mode) when absent. */
  time?: VirtualTime;
  onFault?: (fault: FaultSpec) => void | Promise<void>;
  /** Views kept per device (tests look at histories; large fleets keep none). */
  historyCap?: number;
  reconnectPeriod?: number;
}

export class Simulation {
  readonly time: VirtualTime;
  readonly hall: Hall;
  readonly driver: Driver;
  readonly hub: HubClient;

  constructor(readonly options: SimulationOptions) {
    const s = options.scenario;
    this.time = options.time ?? new VirtualTime(s.time.mode === 'real' ? Date.now() : scenarioStart(s));
    this.hub = new HubClient(options.hub, { token: options.token });
    this.hall = new Hall({
      scenario: s, hub: this.hub, mqttUrl: options.mqtt, time: this.time, stateDir: options.stateDir, log: options.log,
      onFault: options.onFault, historyCap: options.historyCap, reconnectPeriod: options.reconnectPeriod,
    });
    this.driver = new Driver(this.hall, this.time, { mode: s.time.mode, factor: s.time.factor, quiet: s.time.quiet });
  }

  /** Provisions and sets up the hall, powers the devices on and waits until they are all online. */
  async setup(timeoutMs = 30_000): Promise<void> {
    await this.hub.waitReady(timeoutMs);
    await this.hall.setup();
    await this.waitOnline(timeoutMs);
  }

  async waitOnline(timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const down = [...this.hall.devices.values()].filter((d) => d.link !== 'up');
      if (!down.length) break;
      if (Date.now() > until) {
        throw new Error(`devices not connected to ${this.options.mqtt} after ${timeoutMs} ms: ${down.slice(0, 5).map((d) => `${d.id} (${d.link}${d.counters.loginRefused ? ', login refused' : ''})`).join(', ')}${down.length > 5 ? ` and ${down.length - 5} more` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Let the online states, time commands and first display updates land.
    await this.driver.settle(true);
  }

  /** Runs the scenario's duration, then drains: waiting citizens served, ratings delivered. */
  async run(): Promise<void> {
    this.hall.run();
    await this.driver.run(this.hall.end);
    await this.drain();
  }

  /** Serves whoever still waits (at most scenario.drain seconds) and lets every outbox empty. */
  async drain(): Promise<void> {
    const limit = this.time.now() + this.options.scenario.drain * 1000;
    // Two minutes more after the last citizen: the last ratings and their acks.
    let quietSince: number | undefined;
    await this.driver.run(limit, () => {
      const busy = this.hall.activeCitizens() > 0 || this.hall.pendingEvents() > 0;
      if (busy) { quietSince = undefined; return false; }
      quietSince ??= this.time.now();
      return this.time.now() - quietSince > 120_000;
    });
  }

  stop(): void {
    this.driver.stop();
    this.hall.shutdown();
  }
}
