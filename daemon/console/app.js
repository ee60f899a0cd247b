// The console's shell: the pages (by the URL's #fragment), the API-key
// prompt, and the notice that shows the API's errors.

import { onKeyNeeded } from "./api.js";
import { doorPage } from "./door.js";
import { peoplePage } from "./people.js";
import { checkPage } from "./check.js";
import { aboutPage } from "./about.js";
import { clearError } from "./ui.js";

const PAGES = { door: doorPage, people: peoplePage, check: checkPage, about: aboutPage };

let leave = null; // what the page shown needs to stop (its streams, timers)

function show() {
  const name = location.hash.slice(1) in PAGES ? location.hash.slice(1) : "door";
  leave?.();
  clearError();
  for (const link of document.querySelectorAll("nav a")) {
    if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  main.dataset.page = name;
  leave = PAGES[name](main) ?? null;
}

// The key prompt: a modal form, answered once per refusal.
const dialog = document.getElementById("key-dialog");
const keyInput = document.getElementById("key-input");
const keyMessage = document.getElementById("key-message");
dialog.addEventListener("cancel", (event) => event.preventDefault());
onKeyNeeded(
  (refused) =>
    new Promise((resolve) => {
      keyMessage.hidden = !refused;
      keyMessage.textContent = refused
        ? "The daemon refused this API key. Check server.api_key in its configuration."
        : "";
      keyInput.value = "";
      document.getElementById("key-form").onsubmit = (event) => {
        event.preventDefault();
        dialog.close();
        resolve(keyInput.value.trim());
      };
      if (!dialog.open) dialog.showModal();
      keyInput.focus();
    })
);

window.addEventListener("hashchange", show);
show();
