// The OpenID Connect redirect target: hand the code and state to the window that opened this
// one (same origin only), then close. Nothing is stored.
if (window.opener) {
  window.opener.postMessage(window.location.search, window.location.origin);
}
window.close();
