// The demo chat: a MixnetClient started with what the local network serves in config.json
// (validators, a funded test account, timing). Query parameters: `storage=NAME` keeps the
// keys in IndexedDB under NAME; `account=N` picks the N-th test account; `gateway=ID`
// registers at that gateway.
import { MixnetClient } from './js/mixnet.js';

const $ = (id) => document.getElementById(id);

function show(message) {
  const item = document.createElement('div');
  const text = typeof message.message === 'string'
    ? message.message
    : `(${message.message.length} bytes)`;
  item.textContent = text;
  if (message.isReply) {
    item.className = 'reply';
  }
  if (message.senderTag !== null) {
    item.dataset.senderTag = message.senderTag;
    item.title = 'anonymous: click to answer through its reply blocks';
    item.onclick = () => { $('recipient').value = `reply:${message.senderTag}`; };
  }
  $('messages').append(item);
}

async function main() {
  const query = new URLSearchParams(location.search);
  const configUrl = query.has('account') ? `config.json?account=${query.get('account')}` : 'config.json';
  const config = await (await fetch(configUrl)).json();
  const options = {
    validators: config.validators,
    accountKey: config.accountKey,
    bandwidth: config.bandwidth,
    timing: config.timing,
  };
  if (query.has('storage')) {
    options.storage = query.get('storage');
  }
  if (query.has('gateway')) {
    options.gateway = query.get('gateway');
  }
  const client = await MixnetClient.start(options);
  window.mixnet = client;
  $('self-address').textContent = client.selfAddress();
  $('status').textContent = 'Connected.';
  client.onMessage(show);
  client.onEvent((event) => {
    if (event.type === 'link') {
      $('status').textContent = event.connected ? 'Connected.' : `Reconnecting: ${event.reason}`;
    }
  });
  $('send').disabled = false;
  $('send').onclick = async () => {
    $('error').textContent = '';
    const to = $('recipient').value.trim();
    const text = $('message').value;
    try {
      if (to.startsWith('reply:')) {
        await client.reply(to.slice('reply:'.length), text);
      } else if ($('anonymous').checked) {
        await client.sendAnonymous(to, text);
      } else {
        await client.send(to, text);
      }
      $('message').value = '';
    } catch (error) {
      $('error').textContent = error.message;
    }
  };
  setInterval(async () => {
    try {
      const stats = await client.stats();
      $('cover-sent').textContent = String(stats.loopCoverSent);
      $('real-sent').textContent = String(stats.realSent);
      $('acks').textContent = String(stats.acksReceived);
    } catch {
      // stopped
    }
  }, 500);
}

main().catch((error) => {
  $('status').textContent = `Could not start: ${error.message}`;
  window.mixnetError = error.message;
});
