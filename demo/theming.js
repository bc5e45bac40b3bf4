// Drives the theming demo through the widget's public API only: attributes, the --anon-chat-accent custom property,
// its methods and its anon-chat-* events. A separate file (no inline script) so the page runs under a strict CSP.
const chat = document.getElementById('chat');
const headerBadge = document.getElementById('header-unread');
const log = document.getElementById('event-log');
const snippet = document.getElementById('snippet');

function describe(type, detail) {
  switch (type) {
    case 'anon-chat-unread':
      return `unread = ${detail.unread}`;
    case 'anon-chat-connection':
      return `${detail.state} via ${detail.transport}`;
    case 'anon-chat-message':
      return `“${detail.message.text.slice(0, 60)}”`;
    case 'anon-chat-status':
      return `${detail.status}${detail.failure ? ` (${detail.failure.reason})` : ''}: “${detail.text.slice(0, 40)}”`;
    default:
      return '';
  }
}

function logEvent(type, detail) {
  const item = document.createElement('li');
  const name = document.createElement('strong');
  name.textContent = type;
  item.append(name, ` ${describe(type, detail)}`);
  log.prepend(item);
  while (log.children.length > 30) log.lastElementChild.remove();
}

for (const type of ['anon-chat-open', 'anon-chat-close', 'anon-chat-message', 'anon-chat-status', 'anon-chat-unread', 'anon-chat-connection']) {
  chat.addEventListener(type, (event) => logEvent(type, event.detail));
}

// The header badge mirrors the widget's unread count.
chat.addEventListener('anon-chat-unread', (event) => {
  const unread = event.detail.unread;
  headerBadge.textContent = unread > 99 ? '99+' : String(unread);
  headerBadge.hidden = unread === 0;
  document.getElementById('state-unread').textContent = String(unread);
});
chat.addEventListener('anon-chat-connection', (event) => {
  document.getElementById('state-connection').textContent = event.detail.state;
});

document.getElementById('header-messages').addEventListener('click', () => chat.open());
document.getElementById('api-open').addEventListener('click', () => chat.open());
document.getElementById('api-close').addEventListener('click', () => chat.close());
document.getElementById('api-toggle').addEventListener('click', () => chat.toggle());
document.getElementById('api-send').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('api-text');
  const text = input.value.trim();
  if (!text) return;
  chat.send(text).then(
    (message) => logEvent('send() resolved', { message }),
    (error) => logEvent('send() rejected', { message: { text: String(error && error.message) } }),
  );
});

let accent = '#0f766e';
function renderSnippet() {
  snippet.textContent = [
    `<anon-chat theme="${chat.getAttribute('theme')}" position="${chat.getAttribute('position')}"`,
    `           locale="${chat.getAttribute('locale')}"></anon-chat>`,
    `<style>anon-chat { --anon-chat-accent: ${accent}; }</style>`,
  ].join('\n');
}

for (const swatch of document.querySelectorAll('[data-accent]')) {
  swatch.addEventListener('click', () => {
    accent = swatch.dataset.accent;
    // CSSOM, not a style attribute: allowed under a CSP without 'unsafe-inline'.
    chat.style.setProperty('--anon-chat-accent', accent);
    document.documentElement.style.setProperty('--accent', accent);
    for (const other of document.querySelectorAll('[data-accent]')) other.setAttribute('aria-pressed', String(other === swatch));
    renderSnippet();
  });
}
for (const [id, attribute] of [
  ['theme', 'theme'],
  ['position', 'position'],
  ['locale', 'locale'],
]) {
  document.getElementById(id).addEventListener('change', (event) => {
    chat.setAttribute(attribute, event.target.value);
    renderSnippet();
  });
}

// The read-only `unread` and `connection` properties give the state before the first event arrives.
window.customElements.whenDefined('anon-chat').then(() => {
  document.getElementById('state-unread').textContent = String(chat.unread ?? 0);
  document.getElementById('state-connection').textContent = chat.connection ?? '–';
  renderSnippet();
});
