// Security keys and passkeys (WebAuthn) on Latchkey's pages: the one
// script the pages load, and nothing else. It shows the boxes marked
// data-webauthn (hidden without JavaScript or without WebAuthn) and runs
// their ceremony when their form is submitted:
//
//   1. POST the form (its CSRF token and fields) to data-webauthn-begin;
//      the answer is the options, binary values base64url-encoded;
//   2. call navigator.credentials.create (data-webauthn="register") or
//      .get (any other value) with them;
//   3. POST the form again to its action, with the credential as JSON in
//      the field "credential"; the answer names where to go next.
//
// Every request is a same-origin fetch of form fields, so the server's
// CSRF check applies to it as to any form. Errors are shown in the box's
// data-webauthn-status element.
(function () {
  "use strict";

  function decode(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function encode(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeList(list) {
    (list || []).forEach(function (c) { c.id = decode(c.id); });
  }

  function credentialJSON(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: encode(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: encode(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    if (r.attestationObject) {
      out.response.attestationObject = encode(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = encode(r.authenticatorData);
      out.response.signature = encode(r.signature);
      if (r.userHandle) out.response.userHandle = encode(r.userHandle);
    }
    return out;
  }

  async function post(url, form, extra) {
    var body = new URLSearchParams(new FormData(form));
    Object.keys(extra).forEach(function (k) { body.set(k, extra[k]); });
    var resp = await fetch(url, {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    });
    var data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok || !data) {
      throw new Error((data && data.error) || "Something went wrong (" + resp.status + "). Reload the page and try again.");
    }
    return data;
  }

  function message(e, register) {
    if (e && e.name === "NotAllowedError") {
      return "The request was cancelled or timed out, or no passkey for this site was found. Try again.";
    }
    if (e && e.name === "InvalidStateError" && register) {
      return "This security key or passkey is already registered.";
    }
    if (e && e.name === "SecurityError") {
      return "This browser refused to use a passkey on this address.";
    }
    return (e && e.message) || "Something went wrong. Try again.";
  }

  function start(box) {
    var form = box.querySelector("form");
    var status = box.querySelector("[data-webauthn-status]");
    var register = box.getAttribute("data-webauthn") === "register";
    if (!form) return;
    box.hidden = false;
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      var button = form.querySelector("button");
      if (button) button.disabled = true;
      if (status) { status.hidden = true; status.textContent = ""; }
      try {
        var options = await post(form.getAttribute("data-webauthn-begin"), form, {});
        var pk = options.publicKey, cred;
        pk.challenge = decode(pk.challenge);
        if (register) {
          pk.user.id = decode(pk.user.id);
          decodeList(pk.excludeCredentials);
          cred = await navigator.credentials.create({ publicKey: pk });
        } else {
          decodeList(pk.allowCredentials);
          cred = await navigator.credentials.get({ publicKey: pk });
        }
        var answer = await post(form.getAttribute("action"), form, { credential: JSON.stringify(credentialJSON(cred)) });
        window.location.assign(answer.redirect);
      } catch (e) {
        if (status) { status.textContent = message(e, register); status.hidden = false; }
        if (button) button.disabled = false;
      }
    });
  }

  if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) return;
  document.querySelectorAll("[data-webauthn]").forEach(start);
})();
