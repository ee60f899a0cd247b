// What every page uses: building elements, forms, and the notice that
// shows the API's errors (their ProblemDetails `detail`).

/** An element with attributes and children (text or nodes); no HTML parsing. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** A copy of the <template id=`id`>'s content. */
export function fromTemplate(id) {
  return document.getElementById(id).content.cloneNode(true);
}

/** Shows an error (an ApiError's detail is the API's ProblemDetails). */
export function showError(error) {
  const notice = document.getElementById("notice");
  notice.textContent = error.message || String(error);
  notice.hidden = false;
}

export function clearError() {
  document.getElementById("notice").hidden = true;
}

/** Runs `work`, showing its error if it fails; returns its result. */
export async function attempt(work) {
  try {
    clearError();
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

/** A form's fields as an object of trimmed strings. */
export function fields(form) {
  const values = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string") values[name] = value.trim();
  }
  return values;
}
