// Sign-in links (/login#token=…) are not accepted: a token in a URL ends
// up in browser history, bookmarks and screenshots. If one is followed,
// remove the token from the address bar and history, and say why the
// form must be used.
'use strict';
(function () {
  if (!/(?:^#|&)token=/.test(location.hash)) { return; }
  history.replaceState(null, '', location.pathname + location.search);
  function tell() {
    var form = document.getElementById('login-form');
    if (!form) { return; }
    var p = document.createElement('p');
    p.className = 'alert';
    p.setAttribute('role', 'alert');
    p.setAttribute('data-testid', 'link-signin-refused');
    p.textContent = 'Sign-in links are not accepted (the token would stay in your browser history). Paste the token below instead, and consider it exposed: ask for a new one if the link was shared.';
    form.parentNode.insertBefore(p, form);
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', tell);
  } else {
    tell();
  }
})();
