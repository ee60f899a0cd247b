// A photo chosen by uploading a file or taken with the browser's camera,
// sent to the API as base64 (SmartFace's ImageData.data).

import { fromTemplate, showError } from "./ui.js";

function base64Of(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(new Error("the photo cannot be read"));
    reader.readAsDataURL(blob);
  });
}

/**
 * Fills `container` with the photo field; returns `base64()` (the chosen
 * photo, or an error asking for one), `reset()` and `stop()` (the camera).
 */
export function photoField(container) {
  container.append(fromTemplate("photo-field"));
  const input = container.querySelector("input[type=file]");
  const preview = container.querySelector(".preview");
  const cameraButton = container.querySelector("[data-action=camera]");
  const cameraBox = container.querySelector(".camera");
  const video = cameraBox.querySelector("video");
  let chosen = null;
  let stream = null;

  const show = (blob) => {
    chosen = blob;
    if (preview.src) URL.revokeObjectURL(preview.src);
    preview.hidden = !blob;
    if (blob) preview.src = URL.createObjectURL(blob);
    else preview.removeAttribute("src");
  };
  const stop = () => {
    stream?.getTracks().forEach((track) => track.stop());
    stream = null;
    cameraBox.hidden = true;
  };

  input.addEventListener("change", () => show(input.files[0] ?? null));
  // The camera needs a secure context: http://127.0.0.1 is one, a LAN
  // address is not; uploading (which opens the camera on phones) remains.
  cameraButton.hidden = !navigator.mediaDevices?.getUserMedia;
  cameraButton.addEventListener("click", async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" } });
      video.srcObject = stream;
      cameraBox.hidden = false;
      await video.play();
    } catch (error) {
      stop();
      showError(new Error(`The camera cannot be used: ${error.message}`));
    }
  });
  cameraBox.querySelector("[data-action=snap]").addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      input.value = "";
      show(blob);
      stop();
    }, "image/jpeg", 0.92);
  });

  return {
    async base64() {
      if (!chosen) throw new Error("Choose a photo first: upload one or take one with the camera.");
      return base64Of(chosen);
    },
    reset() {
      input.value = "";
      show(null);
    },
    stop,
  };
}
