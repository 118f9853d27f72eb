/**
 * Moddable's plain MQTT client (modules/network/mqtt/mqtt.js), which @moddable/typings 5.6.0
 * does not describe. QoS 0 only; MQTT 3.1.1 with a clean session. Callbacks are properties.
 */
declare module "mqtt" {
  export interface MQTTWill {
    topic: string;
    message: string | ArrayBuffer;
    retain?: boolean;
    /** 0 only in practice: the client never handles PUBACK. */
    quality?: 0 | 1 | 2;
  }
  export interface MQTTOptions {
    host: string;
    /** Defaults to 1883 (80 with a WebSocket `path`). */
    port?: number;
    /** Client id; empty lets the broker assign one. */
    id?: string;
    user?: string;
    password?: string | ArrayBuffer;
    will?: MQTTWill;
    /** Keep-alive, milliseconds; 0 turns it off. */
    timeout?: number;
    /** A WebSocket path switches the client to MQTT over WebSockets. */
    path?: string;
    /** Socket class to use instead of the plain TCP one, e.g. SecureSocket. */
    Socket?: new (dictionary: Record<string, unknown>) => object;
    /** Passed to `Socket` as `secure`: TLS options such as `protocolVersion` and `certificate`. */
    secure?: Record<string, unknown>;
  }
  export interface PublishFlags {
    retain?: boolean;
    quality?: 0;
    duplicate?: boolean;
  }
  export default class Client {
    constructor(options: MQTTOptions);
    /** Throws "connection closed" until the broker's CONNACK arrived. */
    publish(topic: string, data: string | ArrayBuffer, flags?: PublishFlags): void;
    subscribe(topic: string): void;
    unsubscribe(topic: string): void;
    close(immediate?: boolean): void;
    /** TCP (or TLS) is up; CONNECT is about to go out. */
    onConnected?: () => void;
    /** CONNACK accepted. */
    onReady?: () => void;
    onMessage?: (topic: string, payload: ArrayBuffer) => void;
    /** The link failed or the broker refused; the client is dead after this. */
    onClose?: () => void;
    onSubscribe?: (topic: string, qos: number) => void;
  }
}
