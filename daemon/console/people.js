// The People page: watchlists and their members (paged), enrolling with a
// photo (Register), editing, deleting, and each member's faces with their
// thumbnails (AddNewFace, RemoveFace, Images/{id}?maxSize=).

import { call, get, newId, post, showImage } from "./api.js";
import { attempt, el, fields, fromTemplate } from "./ui.js";
import { photoField } from "./photo.js";

const PAGE_SIZE = 10;
const THUMBNAIL = 96;

export const memberPath = (id) => `/api/v1/WatchlistMembers/${encodeURIComponent(id)}`;
const watchlistPath = (id) => `/api/v1/Watchlists/${encodeURIComponent(id)}`;

/** Every watchlist (a terminal has a handful). */
export async function listWatchlists() {
  return (await get("/api/v1/Watchlists?PageSize=1000")).items;
}

/** The watchlist named `name` (any case), created when there is none. */
export async function findOrCreateWatchlist(name) {
  const wanted = name.toLowerCase();
  const found = (await listWatchlists()).find((w) => w.displayName.toLowerCase() === wanted);
  return found ?? post("/api/v1/Watchlists", { displayName: name, fullName: name });
}

/** `key=value` lines as SmartFace labels, and back. */
function parseLabels(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [key, ...value] = line.split("=");
      return { key: key.trim(), value: value.join("=").trim() };
    });
}
const labelsText = (labels) => labels.map((l) => `${l.key ?? ""}=${l.value ?? ""}`).join("\n");

const displayName = (member) => member.displayName || member.fullName || member.id;

async function showThumbnail(img, faces) {
  const face = faces.items[0];
  if (!face) {
    img.replaceWith(el("span", { class: "thumb empty", text: "no face" }));
    return;
  }
  await showImage(img, `/api/v1/Images/${encodeURIComponent(face.imageDataId)}?maxSize=${THUMBNAIL}`);
}

export function peoplePage(main) {
  main.append(fromTemplate("people-page"));
  const $ = (selector) => main.querySelector(selector);
  const watchlistForm = $("#watchlist-form");
  const memberForm = $("#member-form");
  const faceForm = $("#face-form");
  const scope = $("#member-scope");
  const filter = $("#member-filter");
  const newPhoto = photoField(memberForm.querySelector(".photo-field"));
  const facePhoto = photoField(faceForm.querySelector(".photo-field"));
  let watchlists = [];
  let page = 1;
  let members = [];
  let editing = null; // the member whose form is open

  async function loadWatchlists() {
    watchlists = await listWatchlists();
    $("#watchlists").replaceChildren(
      ...watchlists.map((watchlist) => {
        const edit = el("button", { type: "button", text: "Edit" });
        edit.addEventListener("click", () => editWatchlist(watchlist));
        const remove = el("button", { type: "button", class: "danger", text: "Delete" });
        remove.addEventListener("click", () => deleteWatchlist(watchlist));
        const swatch = el("span", { class: "swatch" });
        // CSSOM, which the style policy allows (unlike style attributes).
        swatch.style.backgroundColor = watchlist.previewColor;
        return el(
          "li",
          { "data-id": watchlist.id },
          swatch,
          el("span", { class: "name", text: watchlist.displayName }),
          el("span", { class: "muted", text: ` threshold ${watchlist.threshold}` }),
          el("span", { class: "row-actions" }, edit, remove)
        );
      })
    );
    const chosen = scope.value;
    scope.replaceChildren(
      el("option", { value: "", text: "all members" }),
      ...watchlists.map((w) => el("option", { value: w.id, text: `in ${w.displayName}` }))
    );
    scope.value = watchlists.some((w) => w.id === chosen) ? chosen : "";
    const select = memberForm.elements.watchlist;
    const selected = select.value;
    select.replaceChildren(
      ...(watchlists.length ? [] : [el("option", { value: "", text: "create a watchlist first" })]),
      ...watchlists.map((w) => el("option", { value: w.id, text: w.displayName }))
    );
    if (watchlists.some((w) => w.id === selected)) select.value = selected;
  }

  function editWatchlist(watchlist) {
    watchlistForm.elements.id.value = watchlist.id;
    watchlistForm.elements.displayName.value = watchlist.displayName;
    watchlistForm.elements.threshold.value = watchlist.threshold;
    watchlistForm.querySelector("[type=submit]").textContent = "Save watchlist";
    watchlistForm.querySelector("[data-action=cancel]").hidden = false;
    watchlistForm.elements.displayName.focus();
  }

  function resetWatchlistForm() {
    watchlistForm.reset();
    watchlistForm.elements.id.value = "";
    watchlistForm.querySelector("[type=submit]").textContent = "Create watchlist";
    watchlistForm.querySelector("[data-action=cancel]").hidden = true;
  }

  async function deleteWatchlist(watchlist) {
    if (!confirm(`Delete the watchlist ${watchlist.displayName}? Its members stay.`)) return;
    await attempt(async () => {
      await call("DELETE", watchlistPath(watchlist.id));
      await loadWatchlists();
    });
  }

  async function loadMembers() {
    const query = `PageNumber=${page}&PageSize=${PAGE_SIZE}&ShowTotalCount=true`;
    const path = scope.value ? `${watchlistPath(scope.value)}/WatchlistMembers?${query}` : `/api/v1/WatchlistMembers?${query}`;
    const result = await get(path);
    members = result.items;
    const pages = Math.max(1, Math.ceil((result.totalItemsCount ?? 0) / PAGE_SIZE));
    $("#page-number").textContent = `page ${page} of ${pages}`;
    $("#previous-page").disabled = !result.previousPage;
    $("#next-page").disabled = !result.nextPage;
    showMembers();
  }

  function showMembers() {
    const wanted = filter.value.trim().toLowerCase();
    const shown = members.filter((m) => !wanted || `${m.displayName ?? ""} ${m.fullName ?? ""}`.toLowerCase().includes(wanted));
    $("#members").replaceChildren(
      ...(shown.length ? shown.map(memberRow) : [el("li", { class: "muted", text: members.length ? "Nobody on this page has that name." : "No members yet." })])
    );
  }

  function memberRow(member) {
    const thumb = el("img", { class: "thumb", alt: `${displayName(member)}`, width: 48, height: 48 });
    get(`${memberPath(member.id)}/Faces?PageSize=1`)
      .then((faces) => showThumbnail(thumb, faces))
      .catch(() => thumb.replaceWith(el("span", { class: "thumb empty", text: "?" })));
    const edit = el("button", { type: "button", text: "Edit" });
    edit.addEventListener("click", () => editMember(member));
    const remove = el("button", { type: "button", class: "danger", text: "Delete" });
    remove.addEventListener("click", () => deleteMember(member));
    const labels = member.labels.map((l) => `${l.key}: ${l.value}`).join(", ");
    return el(
      "li",
      { class: "member", "data-id": member.id },
      thumb,
      el("div", { class: "what" }, el("div", { class: "name", text: displayName(member) }), el("div", { class: "muted", text: [member.note, labels].filter(Boolean).join(" · ") })),
      el("span", { class: "row-actions" }, edit, remove)
    );
  }

  async function deleteMember(member) {
    if (!confirm(`Delete ${displayName(member)} with their faces? This cannot be undone.`)) return;
    await attempt(async () => {
      await call("DELETE", memberPath(member.id));
      if (editing?.id === member.id) resetMemberForm();
      await loadMembers();
    });
  }

  function editMember(member) {
    editing = member;
    const form = memberForm.elements;
    form.id.value = member.id;
    form.displayName.value = member.displayName ?? "";
    form.fullName.value = member.fullName ?? "";
    form.note.value = member.note ?? "";
    form.labels.value = labelsText(member.labels);
    for (const field of memberForm.querySelectorAll("[data-new-only]")) field.hidden = true;
    form.watchlist.required = false;
    $("#member-form-title").textContent = `Edit ${displayName(member)}`;
    memberForm.querySelector("[type=submit]").textContent = "Save";
    memberForm.querySelector("[data-action=cancel]").hidden = false;
    $("#member-faces").hidden = false;
    attempt(loadFaces);
    form.displayName.focus();
  }

  function resetMemberForm() {
    editing = null;
    memberForm.reset();
    newPhoto.reset();
    facePhoto.stop();
    for (const field of memberForm.querySelectorAll("[data-new-only]")) field.hidden = false;
    memberForm.elements.watchlist.required = true;
    $("#member-form-title").textContent = "New member";
    memberForm.querySelector("[type=submit]").textContent = "Enrol";
    memberForm.querySelector("[data-action=cancel]").hidden = true;
    $("#member-faces").hidden = true;
  }

  async function loadFaces() {
    const faces = await get(`${memberPath(editing.id)}/Faces?PageSize=100`);
    $("#faces").replaceChildren(
      ...faces.items.map((face) => {
        const img = el("img", { class: "thumb", alt: "A face of this member", width: 96, height: 96 });
        showThumbnail(img, { items: [face] }).catch(() => img.remove());
        const remove = el("button", { type: "button", class: "danger", text: "Remove" });
        remove.addEventListener("click", async () => {
          if (!confirm("Remove this face?")) return;
          await attempt(async () => {
            await post(`${memberPath(editing.id)}/RemoveFace`, { faceId: face.id });
            await loadFaces();
          });
        });
        return el("li", { "data-id": face.id }, img, remove);
      })
    );
  }

  watchlistForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const { id, displayName: name, threshold } = fields(watchlistForm);
    const body = { displayName: name, fullName: name, threshold: Number(threshold) };
    attempt(async () => {
      if (id) await call("PUT", "/api/v1/Watchlists", { ...body, id });
      else await post("/api/v1/Watchlists", body);
      resetWatchlistForm();
      await loadWatchlists();
    });
  });
  watchlistForm.querySelector("[data-action=cancel]").addEventListener("click", resetWatchlistForm);

  memberForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = fields(memberForm);
    const member = {
      displayName: values.displayName,
      fullName: values.fullName || values.displayName,
      note: values.note || null,
      labels: parseLabels(values.labels),
    };
    const submit = memberForm.querySelector("[type=submit]");
    submit.disabled = true;
    attempt(async () => {
      if (editing) {
        await call("PUT", "/api/v1/WatchlistMembers", { ...member, id: editing.id });
      } else {
        await post("/api/v1/WatchlistMembers/Register", {
          ...member,
          id: newId(),
          images: [{ data: await newPhoto.base64() }],
          watchlistIds: [values.watchlist],
        });
      }
      resetMemberForm();
      await loadMembers();
    }).finally(() => (submit.disabled = false));
  });
  memberForm.querySelector("[data-action=cancel]").addEventListener("click", resetMemberForm);

  faceForm.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      await post(`${memberPath(editing.id)}/AddNewFace`, { imageData: { data: await facePhoto.base64() } });
      facePhoto.reset();
      await Promise.all([loadFaces(), loadMembers()]);
    });
  });

  scope.addEventListener("change", () => {
    page = 1;
    attempt(loadMembers);
  });
  filter.addEventListener("input", showMembers);
  $("#previous-page").addEventListener("click", () => {
    page = Math.max(1, page - 1);
    attempt(loadMembers);
  });
  $("#next-page").addEventListener("click", () => {
    page += 1;
    attempt(loadMembers);
  });

  attempt(async () => {
    await loadWatchlists();
    await loadMembers();
  });
  return () => {
    newPhoto.stop();
    facePhoto.stop();
  };
}
