/** firmware/core: everything the firmware, the hub and the simulator import, in one place. */

export * from './protocol.js';
export * from './hardware.js';
export * from './config.js';
export * from './utf8.js';
export * from './crc32.js';
export * from './outbox.js';
export * from './uplink.js';
export * from './debounce.js';
export * from './clock.js';
export * from './pad.js';
export * from './caller.js';
export * from './device.js';
export * from './update.js';
export * from './discovery.js';
