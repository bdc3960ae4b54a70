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

/** Most reply SURBs one message carries (the client core's limit). */
const MAX_REPLY_SURBS = 100;

/** Most messages kept for an onMessage handler not registered yet. */
const MAX_EARLY = 1000;

/** Calls a page's handler; its exception is reported, not let stop the other handlers. */
function call(handler, value) {
  try {
    handler(value);
  } catch (error) {
    queueMicrotask(() => { throw error; });
  }
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
  // Messages that arrived before the first onMessage handler (the gateway already counts
  // them delivered): handed to it when it comes, up to a limit.
  #early = [];
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
      const error = new Error(`the client's worker failed: ${event.message}`);
      worker.terminate();
      this.#fail(error);
      this.#dispatch({ type: 'error', message: error.message });
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
      if (this.#messageHandlers.length === 0) {
        if (this.#early.length < MAX_EARLY) {
          this.#early.push(message);
        }
      }
      for (const handler of this.#messageHandlers) {
        call(handler, message);
      }
    }
    for (const handler of this.#eventHandlers) {
      call(handler, event);
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
    if (!Number.isInteger(replySurbs) || replySurbs < 0 || replySurbs > MAX_REPLY_SURBS) {
      throw new TypeError(`replySurbs must be an integer from 0 to ${MAX_REPLY_SURBS}`);
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
   * is a string if it was sent as one, a Uint8Array otherwise. Messages that arrived before
   * the first handler (up to 1000) are handed to it first. Returns a function that removes
   * the handler.
   */
  onMessage(handler) {
    this.#messageHandlers.push(handler);
    for (const message of this.#early.splice(0)) {
      call(handler, message);
    }
    return () => {
      this.#messageHandlers = this.#messageHandlers.filter((h) => h !== handler);
    };
  }

  /**
   * Calls `handler(event)` for every event: `message`, `link` ({ connected, reason }),
   * `refusal` ({ kind, message } from the gateway, once per change), `fragmentLost`
   * ({ messageId, reason }), `error` ({ message }: the worker failed; the client is gone).
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
    try {
      if (this.#failed === null) {
        await this.#call('stop', {});
      }
    } finally {
      this.#worker.terminate();
      this.#fail(new Error('the client is stopped'));
    }
  }
}
