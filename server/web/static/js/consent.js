// The consent notice: what is kept about a person and who sees it, in their language; the
// sign-in page (and any page) calls showConsent(container) after a first sign-in.

import { api } from "./api.js";
import { h, fill } from "./dom.js";

/** Render the notice in container unless already consented; resolves once consented. */
export async function showConsent(container) {
  const notice = await api("GET", "/api/me/consent");
  if (notice.consented_at) return notice;
  return new Promise((resolve, reject) => {
    const agree = h(
      "button",
      {
        class: "primary",
        type: "button",
        onclick: async () => {
          agree.disabled = true;
          try {
            const given = await api("POST", "/api/me/consent");
            fill(container);
            container.hidden = true;
            resolve(given);
          } catch (error) {
            agree.disabled = false;
            reject(error);
          }
        },
      },
      notice.agree,
    );
    container.hidden = false;
    fill(
      container,
      h(
        "section",
        { class: "consent", role: "dialog", "aria-modal": "true", lang: notice.language },
        h("h2", {}, notice.title),
        notice.paragraphs.map((p) => h("p", {}, p)),
        agree,
      ),
    );
    agree.focus();
  });
}
