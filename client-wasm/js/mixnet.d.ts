// Types of mixnet.js, the browser mixnet client's ES module.

/** Sending and cover timing, in milliseconds; the native client's defaults otherwise. */
export interface Timing {
  /** Mean gap of the real-traffic Poisson stream (default 20). */
  sendGapMs?: number;
  /** Mean gap of the loop-cover stream; 0 turns it off (default 200). */
  loopCoverGapMs?: number;
  /** Mean Sphinx delay per hop (default 15). */
  perHopDelayMs?: number;
  /** Whether idle slots of the real stream carry loop cover (default true). */
  coverInIdleSlots?: boolean;
}

export interface StartOptions {
  /** Validator API base URLs; the genesis must be the same at every one that answers. */
  validators: string[];
  /** The gateway's identity (base58); one is chosen at random from the topology otherwise. */
  gateway?: string;
  /** A funded account's secret key (64 hex digits or base58) that pays for bandwidth. */
  accountKey?: string;
  /** Bytes of bandwidth to buy with accountKey (default 64 MiB); bought when less than half
   * of it is left at the gateway. */
  bandwidth?: number;
  /** Keep the client's keys in IndexedDB under this name (its address survives a reload);
   * in memory only otherwise. One tab at a time runs a stored identity (a Web Lock): a second
   * start with the same name rejects. */
  storage?: string;
  /** The chain's genesis hash, when known from a trusted source. */
  genesisHash?: string;
  timing?: Timing;
}

export interface ReceivedMessage {
  /** A string if it was sent as one, the bytes otherwise. */
  message: string | Uint8Array;
  /** Set on anonymous messages: answer with reply(senderTag, ...). */
  senderTag: string | null;
  /** Whether this answers one of our anonymous messages. */
  isReply: boolean;
}

export interface Stats {
  /** Real packets sent (first transmissions and retransmissions). */
  realSent: number;
  /** Loop-cover packets sent (the loop stream and idle real-stream slots). */
  loopCoverSent: number;
  dropCoverSent: number;
  /** Retransmitted packets. */
  retransmitted: number;
  acksReceived: number;
  /** Loop cover that came back. */
  coverReceived: number;
  messagesReceived: number;
  fragmentsLost: number;
  /** Packets dropped on a full gateway queue (recovered by retransmission). */
  droppedPackets: number;
  /** Whether a session with the gateway is up. */
  connected: boolean;
  reconnects: number;
  /** Bandwidth the gateway holds for the client (bytes), as it last said. */
  bandwidth: number | null;
}

export type ClientEvent =
  | { type: 'message'; message: Uint8Array; text: boolean; senderTag?: string; isReply: boolean }
  | { type: 'link'; connected: boolean; reason?: string }
  | { type: 'refusal'; kind: string; message: string }
  | { type: 'fragmentLost'; messageId: number; reason: string }
  /** The worker failed: the client is gone, every call rejects. */
  | { type: 'error'; message: string };

export class MixnetClient {
  /** Starts a client; rejects with an Error that says what failed. */
  static start(options: StartOptions): Promise<MixnetClient>;
  /** This client's address: identity.encryption@gateway (base58). */
  selfAddress(): string;
  /** Resolves to the message id once queued; rejects on a bad address, no bandwidth, or a
   * gateway that is unreachable (the client keeps reconnecting). */
  send(recipient: string, message: string | Uint8Array): Promise<number>;
  /** replySurbs: 0 to 100 (default 10). */
  sendAnonymous(recipient: string, message: string | Uint8Array, replySurbs?: number): Promise<number>;
  reply(senderTag: string, message: string | Uint8Array): Promise<number>;
  /** Messages that arrived before the first handler (up to 1000) go to it first. Returns a
   * function that removes the handler. */
  onMessage(handler: (message: ReceivedMessage) => void): () => void;
  onEvent(handler: (event: ClientEvent) => void): () => void;
  stats(): Promise<Stats>;
  stop(): Promise<void>;
}
