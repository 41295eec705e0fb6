// Sign-in from a link: /login#token=… (or any dashboard page with
// #token=…, which the collector redirects here keeping the fragment). The
// fragment never reaches a server; remove it from the address bar and
// history, then submit the ordinary form.
'use strict';
(function () {
  var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) { return; }
  var tok = '';
  try { tok = decodeURIComponent(m[1]); } catch (e) { tok = ''; }
  history.replaceState(null, '', location.pathname + location.search);
  if (!tok) { return; }
  function go() {
    var form = document.getElementById('login-form');
    if (!form || document.querySelector('[data-testid="login-error"]')) { return; }
    form.elements.token.value = tok;
    form.submit();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', go);
  } else {
    go();
  }
})();
