// The Check a photo page: the installer's quick test. One Search with the
// liveness checks asked for (spoofDetectorResourceIds), so each face in
// the photo gets its best matches and its SpoofCheck result; nothing is
// stored.

import { post } from "./api.js";
import { attempt, el, fromTemplate } from "./ui.js";
import { photoField } from "./photo.js";

const LIVENESS = ["liveness_distant_any_remote", "liveness_nearby_any_remote"];

function liveness(name, check) {
  if (!check.performed) {
    const why = check.notPerformedReasons?.map((r) => r.reasonMessage).join("; ") ?? "";
    return el("li", { text: `${name}: not performed (${why})` });
  }
  return el("li", { text: `${name}: ${check.passed ? "passed" : "failed"}, score ${check.score.toFixed(0)}` });
}

function faceResult(face, index) {
  const matches = face.matchResults.length
    ? el(
        "ul",
        { class: "matches" },
        ...face.matchResults.map((match) =>
          el("li", { class: "match" }, el("strong", { class: "name", text: match.displayName || match.fullName || match.watchlistMemberId }), ` in ${match.watchlistDisplayName}, score ${match.score}`)
        )
      )
    : el("p", { class: "no-match", text: "Nobody enrolled matches this face." });
  const spoof = face.spoofCheckResult;
  return el(
    "article",
    { class: "face-result panel" },
    el("h2", { text: `Face ${index + 1}` }),
    matches,
    el("p", { class: "liveness", text: `Liveness: ${spoof.passed ? "live" : "not shown live"}` }),
    el("ul", { class: "muted" }, liveness("distant check", spoof.distantLivenessSpoofCheck), liveness("nearby check", spoof.nearbyLivenessSpoofCheck)),
    el("p", { class: "muted", text: `about ${face.age.toFixed(0)} years, ${face.gender.toLowerCase()}, face ${face.faceSize.toFixed(0)} px` })
  );
}

export function checkPage(main) {
  main.append(fromTemplate("check-page"));
  const form = main.querySelector("#check-form");
  const results = main.querySelector("#check-results");
  const photo = photoField(form.querySelector(".photo-field"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const submit = form.querySelector("[type=submit]");
    submit.disabled = true;
    results.replaceChildren(el("p", { class: "muted", text: "checking…" }));
    attempt(async () => {
      const faces = await post("/api/v1/Watchlists/Search", {
        image: { data: await photo.base64() },
        maxResultCount: 3,
        spoofDetectorResourceIds: LIVENESS,
      });
      results.replaceChildren(...faces.map(faceResult));
    }).finally(() => {
      submit.disabled = false;
      if (results.querySelector(".muted:only-child")) results.replaceChildren();
    });
  });
  return photo.stop;
}
