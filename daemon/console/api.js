// The daemon's public REST API, as any integrator would call it: the
// SmartFace paths and Facegate's own /api/facegate/v1. Every call sends
// the API key when the daemon asked for one.

const KEY = "facegate.apiKey";

/** An error answered by the API, carrying its ProblemDetails. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `the daemon answered ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

let askKey = null; // set by the page: (refused) => Promise<string>
let pendingKey = null; // one prompt for every call that was refused

export function onKeyNeeded(ask) {
  askKey = ask;
}

function headers(extra = {}) {
  const key = sessionStorage.getItem(KEY);
  return key ? { ...extra, "X-Api-Key": key } : extra;
}

// A 401 asks for the key (once for all calls waiting on it), then retries.
async function send(path, init) {
  for (;;) {
    let response;
    try {
      response = await fetch(path, { ...init, headers: headers(init.headers) });
    } catch {
      throw new ApiError(0, { detail: "the terminal cannot be reached; is the daemon running?" });
    }
    if (response.status !== 401 || !askKey) return response;
    const refused = sessionStorage.getItem(KEY) !== null;
    pendingKey ??= askKey(refused).finally(() => (pendingKey = null));
    sessionStorage.setItem(KEY, await pendingKey);
  }
}

async function checked(response) {
  if (response.ok) return response;
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    // not ProblemDetails: the status says it
  }
  throw new ApiError(response.status, problem);
}

/** Calls the API with a JSON body (when given); returns the JSON answer. */
export async function call(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await checked(await send(path, init));
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});

/** An image from the API as an object URL (img tags cannot send the key). */
export async function imageUrl(path) {
  const response = await checked(await send(path, { method: "GET", headers: {} }));
  return URL.createObjectURL(await response.blob());
}

/** Shows the image at `path` in `img` once loaded; the old URL is freed. */
export async function showImage(img, path) {
  const url = await imageUrl(path);
  img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  img.src = url;
}

/**
 * Follows the live event stream (Server-Sent Events). EventSource cannot
 * send the key, so the stream is read with fetch. Calls `onEvent` with
 * each event, `onState` with "live" or "reconnecting"; `signal` ends it.
 */
export async function followEvents(onEvent, onState, signal) {
  while (!signal.aborted) {
    try {
      const response = await checked(
        await send("/api/facegate/v1/Events/Stream", { method: "GET", headers: {}, signal })
      );
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffered = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffered += value;
        const messages = buffered.split("\n\n");
        buffered = messages.pop();
        for (const message of messages) {
          for (const line of message.split("\n")) {
            if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiError && error.status !== 503 && error.status !== 0) throw error;
    }
    onState("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
}

/** A v4 UUID; crypto.randomUUID needs a secure context, LAN http is not. */
export function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
