// The chat page: plain JavaScript against the service's own GraphQL API. Replies stream over
// GraphQL over SSE (fetch with Accept: text/event-stream). Every text from the server is shown with
// textContent, never as HTML.

const ENDPOINT = '/graphql';
const TOKEN_KEY = 'ha-ai-agent-token';

const EVENT_FIELDS = `
  __typename
  ... on ReplyStarted { sequence messageId conversationId }
  ... on ReplyDelta { sequence messageId text }
  ... on ToolCallStarted { sequence messageId toolCall { ...Tool } }
  ... on ToolCallAwaitingConfirmation { sequence messageId summary expiresAt toolCall { ...Tool } }
  ... on ToolCallFinished { sequence messageId toolCall { ...Tool } }
  ... on ReplyCompleted { sequence messageId message { id content status } }
  ... on ReplyFailed { sequence messageId code errorMessage message { id content status } }
  ... on ReplyCancelled { sequence messageId message { id content status } }
  ... on ReplyInterrupted { sequence messageId message { id content status } }
`;
const TOOL_FRAGMENT =
  'fragment Tool on ToolCall { id name arguments result status summary error { code message } verification { outcome } confirmation { approved } }';
const TERMINAL = new Set(['ReplyCompleted', 'ReplyFailed', 'ReplyCancelled', 'ReplyInterrupted']);

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem(TOKEN_KEY), conversationId: null, conversationsCursor: null, streaming: null };

class ApiError extends Error {
  /** @param retryAfter seconds to wait before retrying, when the server sent them */
  constructor(message, code, retryAfter) {
    super(message);
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

/**
 * Builds the error for a failed response from the first GraphQL error in its body. Without a GraphQL error
 * (a proxy's error page, say) the message is the HTTP status.
 */
function apiError(body, response) {
  const first = body?.errors?.[0];
  const header = Number.parseInt(response.headers.get('retry-after') ?? '', 10);
  const retryAfter = typeof first?.extensions?.retryAfter === 'number' ? first.extensions.retryAfter : Number.isFinite(header) ? header : undefined;
  return new ApiError(first?.message ?? `HTTP ${response.status}`, first?.extensions?.code, retryAfter);
}

/**
 * Ends the session when the server rejects the credential, whichever request found it out, and returns
 * the error for the caller to throw. Before the chat screen shows, signIn reports the error itself.
 */
function endSessionIfUnauthenticated(error) {
  if (error.code === 'UNAUTHENTICATED' && !$('chat').hidden) endSession(error);
  return error;
}

async function graphql(query, variables = {}) {
  const response = await fetch(ENDPOINT, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json().catch(() => null);
  if (!body || body.errors?.length) throw endSessionIfUnauthenticated(apiError(body, response));
  return body.data;
}

/** Runs a subscription over SSE and calls onResult for each result; resolves when the server completes it. */
async function subscribe(query, variables, onResult, signal) {
  const response = await fetch(ENDPOINT, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${state.token}` },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  // The server rejects a subscription with the error's HTTP status (401, 429, 503) and still sends the
  // GraphQL error as a `next` event of an event stream, so the stream is read whatever the status.
  if (!response.body || !response.headers.get('content-type')?.startsWith('text/event-stream')) {
    const body = await response.json().catch(() => null);
    throw endSessionIfUnauthenticated(apiError(body, response));
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (let boundary = buffer.indexOf('\n\n'); boundary >= 0; boundary = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        const lines = frame.split('\n');
        const event = lines
          .find((line) => line.startsWith('event:'))
          ?.slice(6)
          .trim();
        const data = lines
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (event === 'complete') return;
        if (event !== 'next' || !data) continue;
        const result = JSON.parse(data);
        if (result.errors?.length) throw endSessionIfUnauthenticated(apiError(result, response));
        onResult(result);
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  // A failed request can end its stream without a GraphQL error event.
  if (!response.ok) throw endSessionIfUnauthenticated(apiError(null, response));
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Formats an error for the page: the server's message, a rate limit's Retry-After wait, and the code. */
function describeError(error) {
  let text = error.message;
  if (error.code === 'RATE_LIMITED' && error.retryAfter !== undefined) {
    const wait = `Try again in ${error.retryAfter} s.`;
    if (!text.includes(wait)) text = `${text} ${wait}`;
  }
  return error.code ? `${text} (${error.code})` : text;
}

function showError(where, error) {
  $(where).textContent = error ? describeError(error) : '';
}

/** Turns a tool name such as `search_entities` into a label such as "Search entities". */
function toolLabel(name) {
  const words = name.replaceAll('_', ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// ---- Open conversation in the URL ----

// The open conversation's id is kept in the URL hash, so a reload reopens it. A copied link opens it
// in another tab too, after sign-in there, because the token is kept per tab (sessionStorage).
const CONVERSATION_HASH = '#conversation=';

function conversationInUrl() {
  if (!location.hash.startsWith(CONVERSATION_HASH)) return null;
  try {
    return decodeURIComponent(location.hash.slice(CONVERSATION_HASH.length)) || null;
  } catch {
    return null;
  }
}

function rememberConversation(id) {
  history.replaceState(null, '', id ? `${CONVERSATION_HASH}${encodeURIComponent(id)}` : `${location.pathname}${location.search}`);
}

// ---- Sign in ----

async function signIn(token) {
  state.token = token;
  let viewer;
  try {
    viewer = (await graphql('{ viewer { id scopes } }')).viewer;
  } catch (error) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    showError('sign-in-error', error);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('who').textContent = `${viewer.id} · ${viewer.scopes.join(' ')}`;
  $('sign-in').hidden = true;
  $('chat').hidden = false;
  $('sign-out').hidden = false;
  showError('sign-in-error', null);
  showError('chat-error', null);
  // The credential is valid from here on, so a failure below is shown on the chat screen.
  try {
    await loadConversations(true);
    const remembered = conversationInUrl();
    if (remembered) await reopenConversation(remembered);
  } catch (error) {
    showError('chat-error', error);
  }
}

function signOut() {
  rememberConversation(null);
  endSession(null);
}

/**
 * Leaves the chat screen for the sign-in form and clears what it showed. After a rejected credential the
 * form shows the server's message, and the URL keeps the open conversation for the next sign-in.
 */
function endSession(error) {
  state.streaming?.controller.abort();
  state.token = null;
  state.conversationId = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('chat').hidden = true;
  $('sign-out').hidden = true;
  $('sign-in').hidden = false;
  $('who').textContent = '';
  $('token').value = '';
  $('conversations').replaceChildren();
  $('messages').replaceChildren();
  $('conversation-title').textContent = 'New conversation';
  showError('chat-error', null);
  showError('sign-in-error', error);
}

// ---- Conversations ----

async function loadConversations(reset) {
  if (reset) {
    $('conversations').replaceChildren();
    state.conversationsCursor = null;
  }
  const data = await graphql(
    'query($after: String) { conversations(first: 20, after: $after) { edges { node { id title } } pageInfo { hasNextPage endCursor } } }',
    {
      after: state.conversationsCursor,
    },
  );
  for (const { node } of data.conversations.edges) {
    const button = element('button', '', node.title);
    button.type = 'button';
    button.dataset.id = node.id;
    button.setAttribute('aria-current', String(node.id === state.conversationId));
    button.addEventListener('click', () => void openConversation(node.id).catch((error) => showError('chat-error', error)));
    const item = element('li');
    item.append(button);
    $('conversations').append(item);
  }
  const current = data.conversations.edges.find(({ node }) => node.id === state.conversationId);
  if (current) $('conversation-title').textContent = current.node.title;
  state.conversationsCursor = data.conversations.pageInfo.endCursor;
  $('more-conversations').hidden = !data.conversations.pageInfo.hasNextPage;
}

function markCurrent() {
  for (const button of $('conversations').querySelectorAll('button')) button.setAttribute('aria-current', String(button.dataset.id === state.conversationId));
}

function newConversation() {
  state.conversationId = null;
  rememberConversation(null);
  $('conversation-title').textContent = 'New conversation';
  $('messages').replaceChildren();
  markCurrent();
  $('message').focus();
}

async function openConversation(id) {
  state.conversationId = id;
  rememberConversation(id);
  markCurrent();
  $('messages').replaceChildren();
  showError('chat-error', null);
  let after = null;
  let title = '';
  const streaming = [];
  do {
    const data = await graphql(
      `query($id: ID!, $after: String) { conversation(id: $id) { title messages(first: 100, after: $after) { edges { node { id role content status error { code message } toolCalls { ...Tool } } } pageInfo { hasNextPage endCursor } } } } ${TOOL_FRAGMENT}`,
      { id, after },
    );
    if (!data.conversation) throw new ApiError('This conversation no longer exists.', 'NOT_FOUND');
    title = data.conversation.title;
    for (const { node } of data.conversation.messages.edges) {
      const view = renderMessage(node.role, node.content, node.status);
      for (const call of node.toolCalls ?? []) renderTool(view, call);
      if (node.error) view.status.textContent = `${node.status.toLowerCase()}: ${node.error.message}`;
      if (node.status === 'STREAMING') streaming.push({ id: node.id, view });
    }
    after = data.conversation.messages.pageInfo.hasNextPage ? data.conversation.messages.pageInfo.endCursor : null;
  } while (after);
  $('conversation-title').textContent = title;
  // A reply still streaming is followed from its first event, so its text is rebuilt from the deltas.
  for (const reply of streaming)
    void follow(`subscription($id: ID!) { replyStream(messageId: $id) { ${EVENT_FIELDS} } } ${TOOL_FRAGMENT}`, { id: reply.id }, 'replyStream', reply.view);
}

/** Opens the conversation named in the URL, or starts a new one when it is gone or the id is invalid. */
async function reopenConversation(id) {
  try {
    await openConversation(id);
  } catch (error) {
    if (error.code !== 'NOT_FOUND' && error.code !== 'BAD_USER_INPUT') throw error;
    newConversation();
  }
}

// ---- Messages ----

function renderMessage(role, content, status) {
  const item = element('li', `message ${role.toLowerCase()}`);
  const tools = element('div', 'tools');
  const text = element('div', 'text', content);
  const statusLine = element('span', 'status', role === 'ASSISTANT' && status !== 'COMPLETED' ? status.toLowerCase() : '');
  item.append(tools, text, statusLine);
  $('messages').append(item);
  item.scrollIntoView({ block: 'end' });
  return { item, tools, text, status: statusLine, toolNodes: new Map() };
}

function renderTool(view, call, confirmation) {
  let node = view.toolNodes.get(call.id);
  if (!node) {
    node = element('div', 'tool');
    view.toolNodes.set(call.id, node);
    view.tools.append(node);
  }
  node.dataset.status = call.status;
  const outcome = call.verification ? ` · ${call.verification.outcome.toLowerCase().replaceAll('_', ' ')}` : '';
  const label = call.summary ?? confirmation?.summary ?? toolLabel(call.name);
  const heading = element('div', '', `${label} · ${call.status.toLowerCase().replaceAll('_', ' ')}${outcome}`);
  heading.title = call.name;
  const details = element('details');
  details.append(
    element('summary', '', 'details'),
    element('pre', '', JSON.stringify({ arguments: call.arguments, result: call.result ?? undefined, error: call.error ?? undefined }, null, 2)),
  );
  node.replaceChildren(heading);
  if (call.error) node.append(element('div', 'error', call.error.message));
  if (confirmation && call.status === 'AWAITING_CONFIRMATION') node.append(confirmationControls(call, confirmation));
  node.append(details);
}

function confirmationControls(call, confirmation) {
  const box = element('div', 'confirm');
  const approve = element('button', 'approve', 'Approve');
  const deny = element('button', 'deny', 'Deny');
  // The tool row's heading already shows the summary.
  const expires = element('span', 'muted', `expires ${new Date(confirmation.expiresAt).toLocaleTimeString()}`);
  for (const [button, decision] of [
    [approve, true],
    [deny, false],
  ]) {
    button.type = 'button';
    button.addEventListener('click', async () => {
      approve.disabled = true;
      deny.disabled = true;
      try {
        await graphql('mutation($id: ID!, $approve: Boolean!) { confirmToolCall(toolCallId: $id, approve: $approve) { id status } }', {
          id: call.id,
          approve: decision,
        });
        expires.textContent = decision ? 'Approved.' : 'Denied.';
      } catch (error) {
        expires.textContent = describeError(error);
      }
    });
  }
  box.append(approve, deny, expires);
  return box;
}

/** Follows a reply stream into a message view, resuming with `after` when the connection drops. */
async function follow(query, variables, field, view) {
  const controller = new AbortController();
  let lastSequence = 0;
  let messageId = null;
  let ended = false;
  state.streaming = { controller, messageId: null };
  $('stop').hidden = false;
  $('send').disabled = true;

  const onResult = (result) => {
    const event = result.data[field];
    lastSequence = event.sequence;
    messageId = event.messageId;
    state.streaming.messageId = messageId;
    switch (event.__typename) {
      case 'ReplyStarted':
        if (!state.conversationId) {
          state.conversationId = event.conversationId;
          rememberConversation(event.conversationId);
          void loadConversations(true);
        }
        view.text.textContent = '';
        view.status.textContent = 'thinking…';
        break;
      case 'ReplyDelta':
        view.text.textContent += event.text;
        view.status.textContent = 'writing…';
        break;
      case 'ToolCallStarted':
      case 'ToolCallFinished':
        renderTool(view, event.toolCall);
        break;
      case 'ToolCallAwaitingConfirmation':
        renderTool(view, event.toolCall, event);
        view.status.textContent = 'waiting for your confirmation';
        break;
      default:
        if (TERMINAL.has(event.__typename)) {
          ended = true;
          view.text.textContent = event.message.content;
          view.item.classList.toggle('failed', event.__typename === 'ReplyFailed');
          view.status.textContent =
            event.__typename === 'ReplyFailed'
              ? `failed: ${event.errorMessage}`
              : event.message.status === 'COMPLETED'
                ? ''
                : event.message.status.toLowerCase();
        }
    }
    view.item.scrollIntoView({ block: 'end' });
  };

  try {
    for (let attempt = 0; !ended && attempt < 4; attempt += 1) {
      try {
        if (attempt === 0 || !messageId) await subscribe(query, variables, onResult, controller.signal);
        else
          await subscribe(
            `subscription($id: ID!, $after: Int) { replyStream(messageId: $id, after: $after) { ${EVENT_FIELDS} } } ${TOOL_FRAGMENT}`,
            { id: messageId, after: lastSequence },
            (result) => onResult({ ...result, data: result.data && { [field]: result.data.replyStream } }),
            controller.signal,
          );
      } catch (error) {
        if (controller.signal.aborted || error instanceof ApiError) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
    // A replyStream follows a reply the server has already stored, as does a chat once it has started.
    if (!ended && !controller.signal.aborted)
      markFailed(
        view,
        messageId || field === 'replyStream'
          ? new Error('The connection to the server was lost. Reload the page to see the rest of the reply.')
          : new Error('Could not reach the server. Check the connection and send the message again.'),
      );
  } catch (error) {
    if (!controller.signal.aborted) markFailed(view, error);
  } finally {
    if (state.streaming?.controller === controller) state.streaming = null;
    $('stop').hidden = true;
    $('send').disabled = false;
  }
}

function markFailed(view, error) {
  view.item.classList.add('failed');
  view.status.textContent = `failed: ${describeError(error)}`;
}

async function send(text) {
  showError('chat-error', null);
  renderMessage('USER', text, 'COMPLETED');
  const view = renderMessage('ASSISTANT', '', 'STREAMING');
  const input = { message: text, clientMessageId: crypto.randomUUID(), ...(state.conversationId ? { conversationId: state.conversationId } : {}) };
  await follow(`subscription($input: ChatInput!) { chatStream(input: $input) { ${EVENT_FIELDS} } } ${TOOL_FRAGMENT}`, { input }, 'chatStream', view);
}

async function stop() {
  const messageId = state.streaming?.messageId;
  if (!messageId) return;
  try {
    await graphql('mutation($id: ID!) { cancelReply(messageId: $id) { id status } }', { id: messageId });
  } catch (error) {
    showError('chat-error', error);
  }
}

// ---- Wiring ----

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  void signIn($('token').value.trim());
});
$('sign-out').addEventListener('click', signOut);
$('new-conversation').addEventListener('click', newConversation);
$('more-conversations').addEventListener('click', () => void loadConversations(false).catch((error) => showError('chat-error', error)));
$('stop').addEventListener('click', () => void stop());
$('composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('message').value.trim();
  if (!text || state.streaming) return;
  $('message').value = '';
  void send(text);
});
$('message').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});
window.addEventListener('error', (event) => showError('chat-error', event.error ?? new Error(event.message)));
window.addEventListener('unhandledrejection', (event) =>
  showError('chat-error', event.reason instanceof Error ? event.reason : new Error(String(event.reason))),
);

if (state.token) void signIn(state.token);
