// The Door page: the door's decisions as they happen, the edge loop's
// counters, opening the door by hand, and enrolling a stranger from the
// face the camera saw (the SmartFace way: create the member, link it,
// AddFaceFromSystem).

import { call, followEvents, get, post, showImage } from "./api.js";
import { attempt, el, fields, fromTemplate, showError } from "./ui.js";
import { findOrCreateWatchlist, listWatchlists, memberPath } from "./people.js";

const STATUS_EVERY_MS = 2000;
const HISTORY = 20;

const names = new Map(); // member id -> Promise of a display name

function memberName(id) {
  if (!names.has(id)) {
    names.set(
      id,
      get(memberPath(id)).then(
        (member) => member.displayName || member.fullName || id,
        () => id
      )
    );
  }
  return names.get(id);
}

const number = (value, digits = 0) =>
  value === null || value === undefined ? "–" : Number(value).toFixed(digits);

function fact(list, term, value) {
  list.append(el("dt", { text: term }), el("dd", { text: value }));
}

function showStatus(list, status, button) {
  const door = status.door;
  list.replaceChildren();
  // Without a door loop the status still has the (off) camera and relay.
  const stations = status.cameras.length ? status.cameras : [status];
  for (const station of stations) {
    // Several cameras: each is named by its direction and stream id.
    const name = status.cameras.length > 1 ? ` ${station.direction} ${station.streamId}` : "";
    const camera = station.camera;
    // The last error stays in the status after the camera recovers; it is
    // news only while the camera is not streaming.
    const cameraTrouble = camera.lastError && camera.state !== "streaming";
    fact(list, `Camera${name}`, camera.state + (cameraTrouble ? ` (${camera.lastError})` : ""));
    const relay = station.relay;
    fact(list, `Relay${name}`, door ? (relay.connected ? "connected" : `not connected${relay.lastError ? ` (${relay.lastError})` : ""}`) : "no door configured");
    fact(list, `Frames${name}`, `${station.framesIn} in, ${station.framesProcessed} processed, ${station.framesDropped} dropped`);
  }
  fact(list, "Opens", String(status.opens));
  fact(list, "Denials", String(status.denials));
  fact(list, "Frame to decision", `p50 ${number(status.frameToDecisionP50Ms)} ms, p99 ${number(status.frameToDecisionP99Ms)} ms`);
  if (door) fact(list, "Score needed", `${door.threshold} (${door.galleryFaces} faces enrolled)`);
  const watch = status.doorState;
  const contacts = { unknown: "not wired", closed: "closed", open: "open", heldOpen: "held open" };
  fact(list, "Door contact", contacts[watch.contact] ?? watch.contact);
  if (watch.contact !== "unknown") {
    fact(list, "Door activity", `${watch.passages} passages, ${watch.forcedOpen} forced open, ${watch.heldOpen} held open, ${watch.exitRequests} exit button`);
  }
  for (const s of watch.schedules) {
    const from = watch.schedulesFrom === "site" ? ", the site's" : "";
    fact(list, `Schedule of ${s.watchlistId}`, `${s.schedule} (${s.timeZone}${from}): ${s.admitsNow ? "admits now" : "outside schedule now"}`);
  }
  for (const output of status.panel) {
    const secure = output.kind === "osdp" ? (output.secureChannel ? ", secure channel" : ", no secure channel") : "";
    const line = output.online ? "online" : `offline${output.lastError ? ` (${output.lastError})` : ""}`;
    fact(list, `Panel (${output.kind})`, `${output.device}: ${line}${secure}, key ${output.key || "–"}, ${output.cardsSent} cards sent, last LED ${output.lastLed || "–"}, last verdict ${output.lastVerdict}`);
  }
  button.disabled = !door;
  button.title = door ? "" : "Run the daemon with a camera and a relay to open a door";
}

/** The row of one decision. */
function eventRow(event) {
  const who = el("span", { class: "who" });
  if (event.watchlistMemberId) {
    who.textContent = "…";
    memberName(event.watchlistMemberId).then((name) => (who.textContent = name));
  } else {
    who.textContent = event.faceId ? "unknown" : "–";
  }
  const crop = el("img", { class: "crop", alt: "", width: 64, height: 64 });
  if (event.cropUrl) showImage(crop, event.cropUrl).catch(() => crop.remove());
  else crop.classList.add("empty");
  const time = el("time", { datetime: event.at, text: new Date(event.at).toLocaleTimeString() });
  const row = el(
    "li",
    {
      class: "event",
      "data-sequence": event.sequence ?? "",
      "data-reason": event.reason,
      "data-opened": String(event.doorOpened),
      "data-stream-id": event.streamId ?? "",
    },
    crop,
    el(
      "div",
      { class: "what" },
      el("div", {}, who, " ", el("span", { class: event.doorOpened ? "badge open" : "badge", text: event.doorOpened ? "door opened" : "door stayed shut" })),
      el("div", { class: "reason", text: event.panelVerdict && event.panelVerdict !== "none" ? `${event.reason} · panel: ${event.panelVerdict}` : event.reason }),
      el("div", { class: "numbers" }, time, ` · score ${number(event.score)} · liveness ${number(event.livenessScore)}`, event.streamId ? ` · ${event.direction} camera ${event.streamId.slice(0, 8)}` : "")
    )
  );
  if (!event.watchlistMemberId && event.faceId) {
    const button = el("button", { type: "button", class: "enrol-button", text: "Enrol this person" });
    button.addEventListener("click", () => openEnrolForm(row, button, event));
    row.querySelector(".what").append(button);
  }
  return row;
}

async function openEnrolForm(row, button, event) {
  button.hidden = true;
  const form = fromTemplate("enrol-form").querySelector("form");
  row.querySelector(".what").append(form);
  const watchlists = (await attempt(listWatchlists)) ?? [];
  form.querySelector("datalist").replaceChildren(...watchlists.map((w) => el("option", { value: w.displayName })));
  form.elements.watchlist.value = watchlists[0]?.displayName ?? "Staff";
  form.elements.name.focus();
  form.querySelector("[data-action=cancel]").addEventListener("click", () => {
    form.remove();
    button.hidden = false;
  });
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const { name, watchlist } = fields(form);
    form.querySelector("[type=submit]").disabled = true;
    const done = await attempt(() => enrolFromEvent(name, watchlist, event.faceId));
    form.querySelector("[type=submit]").disabled = false;
    if (!done) return;
    form.replaceWith(el("p", { class: "enrolled", role: "status", text: `Enrolled as ${name} in ${done.displayName}. Their next pass opens the door.` }));
  });
}

/** Creates the member, links it and makes the camera's face theirs. */
async function enrolFromEvent(name, watchlistName, faceId) {
  const watchlist = await findOrCreateWatchlist(watchlistName);
  const member = await post("/api/v1/WatchlistMembers", { displayName: name, fullName: name });
  try {
    await post("/api/v1/WatchlistMembers/LinkToWatchlist", {
      watchlistId: watchlist.id,
      watchlistMembersIds: [member.id],
    });
    await post(`${memberPath(member.id)}/AddFaceFromSystem`, { faceId });
  } catch (error) {
    // No half-enrolled member is left behind.
    await call("DELETE", memberPath(member.id)).catch(() => {});
    throw error;
  }
  return watchlist;
}

export function doorPage(main) {
  main.append(fromTemplate("door-page"));
  const list = main.querySelector("#events");
  const live = main.querySelector("#live");
  const statusList = main.querySelector("#status");
  const openButton = main.querySelector("#open-door");
  const openResult = main.querySelector("#open-result");
  const stop = new AbortController();

  // Newest first, by sequence; a decision the store refused has none.
  const shown = new Set();
  const add = (event) => {
    if (event.sequence !== null) {
      if (shown.has(event.sequence)) return;
      shown.add(event.sequence);
    }
    const row = eventRow(event);
    const older = [...list.children].find((other) => Number(other.dataset.sequence) < (event.sequence ?? Infinity));
    list.insertBefore(row, older ?? null);
    while (list.children.length > 100) list.lastElementChild.remove();
  };
  const setLive = (state) => {
    live.dataset.state = state;
    live.textContent = state === "live" ? "live" : "reconnecting…";
  };
  // The stream never ends, so it starts once the page has loaded: a
  // response still arriving while the document loads can hold the load up.
  const follow = () =>
    followEvents(add, setLive, stop.signal).catch((error) => {
      setLive("reconnecting");
      showError(error);
    });
  if (document.readyState === "complete") follow();
  else window.addEventListener("load", follow, { once: true });
  attempt(async () => {
    const history = await get(`/api/facegate/v1/Events?PageSize=${HISTORY}&Ascending=false`);
    history.items.forEach(add);
  });

  const refresh = () => attempt(async () => showStatus(statusList, await get("/api/facegate/v1/Status"), openButton));
  refresh();
  const timer = setInterval(refresh, STATUS_EVERY_MS);

  openButton.addEventListener("click", async () => {
    openButton.disabled = true;
    openResult.textContent = "opening…";
    const event = await attempt(() => post("/api/facegate/v1/Door/Open"));
    openResult.textContent = event ? `Opened at ${new Date(event.at).toLocaleTimeString()}` : "";
    openButton.disabled = false;
    if (event) add(event);
  });

  return () => {
    stop.abort();
    clearInterval(timer);
  };
}
