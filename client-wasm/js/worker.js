// The browser client's worker: the whole client (the WebAssembly module) runs here, in a
// dedicated Web Worker, so that a page in a background tab does not throttle its Poisson
// timers. The page talks to it through mixnet.js: requests {id, op, args}, answers
// {id, ok, value | error}, events {event}.
import init, { WasmClient } from '../pkg/client_wasm.js';

const ready = init();
let client = null;
// Releases the Web Lock held on the stored identity's name while the client runs.
let releaseLock = null;

/** Holds a Web Lock on `name` until released, so that one identity runs in one tab at a time
 * (two would take the gateway session from each other). */
async function lockIdentity(name) {
  if (!self.navigator?.locks) {
    return null;
  }
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  const got = await new Promise((resolve) => {
    self.navigator.locks.request(`mixnet-client:${name}`, { ifAvailable: true }, (lock) => {
      resolve(lock !== null);
      return lock === null ? null : held;
    });
  });
  if (!got) {
    throw new Error(`the client stored as ${JSON.stringify(name)} is already running in another tab`);
  }
  return release;
}

function started() {
  if (client === null) {
    throw new Error('the client is not started (or was stopped)');
  }
  return client;
}

function post(event) {
  if (event.message instanceof Uint8Array) {
    self.postMessage({ event }, [event.message.buffer]);
  } else {
    self.postMessage({ event });
  }
}

const operations = {
  async start({ options }) {
    if (client !== null) {
      throw new Error('the client is already started');
    }
    const storage = options?.storage;
    const release = typeof storage === 'string' ? await lockIdentity(storage) : null;
    try {
      client = await WasmClient.start(JSON.stringify(options ?? {}), post);
    } catch (error) {
      release?.();
      throw error;
    }
    releaseLock = release;
    return { address: client.selfAddress() };
  },
  send({ recipient, message, text }) {
    return started().send(recipient, message, text);
  },
  sendAnonymous({ recipient, message, text, replySurbs }) {
    return started().sendAnonymous(recipient, message, text, replySurbs);
  },
  reply({ senderTag, message, text }) {
    return started().reply(senderTag, message, text);
  },
  stats() {
    return JSON.parse(started().stats());
  },
  stop() {
    if (client !== null) {
      client.stop();
      client.free();
      client = null;
    }
    releaseLock?.();
    releaseLock = null;
    return null;
  },
};

self.onmessage = async ({ data }) => {
  const { id, op, args } = data;
  try {
    await ready;
    const operation = operations[op];
    if (operation === undefined) {
      throw new Error(`unknown operation ${op}`);
    }
    const value = await operation(args ?? {});
    self.postMessage({ id, ok: true, value });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    self.postMessage({ id, ok: false, error: message });
  }
};
