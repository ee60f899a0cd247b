// The About page: the version, the face engine (precision and execution
// provider of each network), the gallery and database sizes, and the
// configuration in force (secrets hidden).

import { get } from "./api.js";
import { attempt, el, fromTemplate } from "./ui.js";

function bytes(count) {
  if (count === null || count === undefined) return "unknown";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let unit = 0;
  while (count >= 1024 && unit < units.length - 1) {
    count /= 1024;
    unit += 1;
  }
  return `${unit ? count.toFixed(1) : count} ${units[unit]}`;
}

const isTable = (value) => value !== null && typeof value === "object" && !Array.isArray(value);

/** The configuration as TOML, the way its file is written. */
function toml(table, path = []) {
  const plain = Object.entries(table).filter(([, value]) => !isTable(value));
  const nested = Object.entries(table).filter(([, value]) => isTable(value));
  const lines = path.length && plain.length ? [`[${path.join(".")}]`] : [];
  lines.push(...plain.map(([key, value]) => `${key} = ${JSON.stringify(value)}`));
  const sections = nested.map(([key, value]) => toml(value, [...path, key]));
  return [lines.join("\n"), ...sections].filter(Boolean).join("\n\n");
}

export function aboutPage(main) {
  main.append(fromTemplate("about-page"));
  attempt(async () => {
    const [version, status, config] = await Promise.all([
      get("/api/v1/Version"),
      get("/api/facegate/v1/Status"),
      get("/api/facegate/v1/Config"),
    ]);
    const facts = [
      ["Version", version.fullVersion],
      ["Database schema", version.databaseVersion],
      ["Templates", status.engine.templateModel],
      ["Enrolled faces", String(status.galleryFaces)],
      ["Database size", bytes(status.storage.databaseBytes)],
      ["Free space", `${bytes(status.storage.freeBytes)}${status.storage.warning ? ` (${status.storage.warning})` : ""}`],
      ["Data directory", status.storage.dataDir],
      ["ONNX Runtime", status.engine.runtimeLibrary],
    ];
    main.querySelector("#about").replaceChildren(...facts.flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]));
    main.querySelector("#networks tbody").replaceChildren(
      ...status.engine.networks.map((n) => el("tr", {}, el("td", { text: n.name }), el("td", { text: n.executionProvider }), el("td", { text: n.precision })))
    );
    main.querySelector("#config").textContent = toml(config);
  });
}
