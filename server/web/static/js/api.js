// The pages' one way to call the API: cookies of this origin, the CSRF echo on every change,
// a refusal's sentence as the error's message, and a 401 sends the person to sign in.

const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The value of a cookie of this page, or "". */
export function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

/** An error the page shows as its message: the service's sentence. */
export class Refused extends Error {
  constructor(status, sentence, body) {
    super(sentence);
    this.status = status;
    this.body = body;
  }
}

function headersFor(method, extra) {
  // The page's language, so a refusal's sentence comes in it (not the browser's locale).
  const language = document.documentElement.lang.startsWith("en") ? "en" : "zh";
  const headers = { Accept: "application/json", "Accept-Language": language, ...extra };
  if (CHANGES.has(method)) headers["X-CSRF-Token"] = cookie("tw_csrf");
  return headers;
}

async function refusal(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const detail = body && body.detail;
  const sentence =
    typeof detail === "string"
      ? detail
      : Array.isArray(detail)
        ? detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
        : `${response.status} ${response.statusText}`;
  return new Refused(response.status, sentence, body);
}

/** Call the API; resolves to the JSON answer (or the text, for CSV), rejects with Refused. */
export async function api(method, path, { json, body, headers } = {}) {
  const init = { method, credentials: "same-origin", headers: headersFor(method, headers) };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  const response = await fetch(path, init);
  if (response.status === 401) {
    window.location.assign("/signin?next=" + encodeURIComponent(location.pathname));
    throw new Refused(401, "sign in first", null);
  }
  if (!response.ok) throw await refusal(response);
  if (response.status === 204) return null; // nothing to read (a PIN set, a session ended)
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

/** Send a file's bytes with upload progress (fetch has none); resolves like api(). */
export function upload(path, file, { type = "text/csv", onProgress } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Content-Type", type);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", cookie("tw_csrf"));
    if (onProgress) xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded, e.total);
    xhr.onerror = () => reject(new Refused(0, "the service cannot be reached; try again", null));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 401) {
        window.location.assign("/signin?next=" + encodeURIComponent(location.pathname));
        return reject(new Refused(401, "sign in first", body));
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
      const detail = body && typeof body.detail === "string" ? body.detail : `${xhr.status}`;
      reject(new Refused(xhr.status, detail, body));
    };
    xhr.send(file);
  });
}
