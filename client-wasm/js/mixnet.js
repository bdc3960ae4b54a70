// The browser mixnet client, for pages: `await MixnetClient.start(options)`.
//
// The client itself (keys, Sphinx packets, cover traffic, acks and retransmission, the
// gateway connection, Coconut credentials) runs in WebAssembly in a dedicated worker
// (worker.js); this module forwards calls to it and events from it. Types: mixnet.d.ts.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A string travels as UTF-8 marked as text, a Uint8Array as binary. */
function payload(message) {
  if (typeof message === 'string') {
    return { message: encoder.encode(message), text: true };
  }
  if (message instanceof Uint8Array) {
    return { message, text: false };
  }
  throw new TypeError('message must be a string or a Uint8Array');
}

function checkString(value, what) {
  if (typeof value !== 'string' || value.length === 0) {
    throw new TypeError(`${what} must be a non-empty string`);
  }
}

export class MixnetClient {
  #worker;
  #pending = new Map();
  #next = 1;
  #address = null;
  #messageHandlers = [];
  #eventHandlers = [];
  #failed = null;

  /**
   * Starts a client: fetches the network's genesis and topology from `options.validators`,
   * registers at a gateway (or authenticates, with keys kept in IndexedDB under
   * `options.storage`), buys bandwidth with `options.accountKey`, and starts sending
   * (real traffic and cover). Rejects with an Error that says what failed.
   */
  static async start(options = {}) {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
    const client = new MixnetClient(worker);
    try {
      const { address } = await client.#call('start', { options });
      client.#address = address;
      return client;
    } catch (error) {
      worker.terminate();
      throw error;
    }
  }

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`the client's worker failed: ${event.message}`));
    };
  }

  #fail(error) {
    this.#failed = error;
    for (const { reject } of this.#pending.values()) {
      reject(error);
    }
    this.#pending.clear();
  }

  #call(op, args) {
    if (this.#failed !== null) {
      return Promise.reject(this.#failed);
    }
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, op, args });
    });
  }

  #receive(data) {
    if (data.event !== undefined) {
      this.#dispatch(data.event);
      return;
    }
    const pending = this.#pending.get(data.id);
    if (pending === undefined) {
      return;
    }
    this.#pending.delete(data.id);
    if (data.ok) {
      pending.resolve(data.value);
    } else {
      pending.reject(new Error(data.error));
    }
  }

  #dispatch(event) {
    if (event.type === 'message') {
      const message = {
        message: event.text ? decoder.decode(event.message) : event.message,
        senderTag: event.senderTag ?? null,
        isReply: event.isReply,
      };
      for (const handler of this.#messageHandlers) {
        handler(message);
      }
    }
    for (const handler of this.#eventHandlers) {
      handler(event);
    }
  }

  /** This client's address: `identity.encryption@gateway`. */
  selfAddress() {
    return this.#address;
  }

  /** Sends `message` (a string or a Uint8Array) to `recipient`; resolves to the message id. */
  async send(recipient, message) {
    checkString(recipient, 'recipient');
    return this.#call('send', { recipient, ...payload(message) });
  }

  /**
   * Sends `message` without revealing this client's address, with `replySurbs` single-use
   * reply blocks the recipient answers through; resolves to the message id.
   */
  async sendAnonymous(recipient, message, replySurbs = 10) {
    checkString(recipient, 'recipient');
    if (!Number.isInteger(replySurbs) || replySurbs < 0 || replySurbs > 65535) {
      throw new TypeError('replySurbs must be an integer from 0 to 65535');
    }
    return this.#call('sendAnonymous', { recipient, replySurbs, ...payload(message) });
  }

  /** Answers the anonymous sender `senderTag` through its reply blocks. */
  async reply(senderTag, message) {
    checkString(senderTag, 'senderTag');
    return this.#call('reply', { senderTag, ...payload(message) });
  }

  /**
   * Calls `handler({ message, senderTag, isReply })` for each message received; `message`
   * is a string if it was sent as one, a Uint8Array otherwise. Returns a function that
   * removes the handler.
   */
  onMessage(handler) {
    this.#messageHandlers.push(handler);
    return () => {
      this.#messageHandlers = this.#messageHandlers.filter((h) => h !== handler);
    };
  }

  /**
   * Calls `handler(event)` for every event: `message`, `link` ({ connected, reason }),
   * `refusal` ({ kind, message } from the gateway), `fragmentLost` ({ messageId, reason }).
   */
  onEvent(handler) {
    this.#eventHandlers.push(handler);
    return () => {
      this.#eventHandlers = this.#eventHandlers.filter((h) => h !== handler);
    };
  }

  /** The counters: packets sent (real, loop cover, retransmitted), acks, link state. */
  async stats() {
    return this.#call('stats', {});
  }

  /** Stops the client and its worker. */
  async stop() {
    if (this.#failed === null) {
      await this.#call('stop', {});
    }
    this.#worker.terminate();
    this.#fail(new Error('the client is stopped'));
  }
}
