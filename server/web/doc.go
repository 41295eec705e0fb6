// Package web is the collector's web dashboard: plain HTML, CSS and
// JavaScript embedded in the binary (no build step, no CDN, no external
// font), served at "/" by the collector (server.Config.UI):
//
//	st, _ := store.Open(ctx, dbURL)
//	srv, _ := server.New(server.Config{Store: st, UI: web.Handler(web.Options{Tokens: st})})
//
// Pages: the fleet overview (compliance by host status, store kind, OS and
// policy serial; the hourly compliance trend drawn as inline SVG), the
// hosts table with the API's filters and cursor pagination (and a CSV
// export), a host's stores, roots, CAs, addresses and events, fleet
// events, unknown and blocked roots, CA expiry, unmanaged devices, and
// PKI health (the CA checks, and the subnets that cannot reach each CRL
// distribution point and OCSP responder).
// Every figure is read from the dashboard JSON API (server/api) by the
// page's script; the HTML carries no data.
//
// Sign-in: a viewer (or admin) API token, entered on /login (a plain HTML
// form that works without JavaScript) or passed in the URL fragment
// (/#token=…, never sent to a server nor in a Referer; the login page's
// script moves it into the form and removes it from the address bar). The
// token is checked against the database and kept in an HttpOnly,
// SameSite=Strict session cookie (Secure over TLS) named
// "anchorwatch_token", which the collector accepts for GET and HEAD only:
// the page's script never holds the token, so an injected script could not
// read it, and a cross-site request cannot make a signed-in browser change
// anything. Without a valid cookie every page (and the application script)
// redirects to /login, and the API answers 401; only the login page, its
// script, the stylesheet and the icon are public. A revoked token stops
// working at the next request. POST /logout clears the cookie.
//
// Every response carries a strict Content-Security-Policy (default-src
// 'self', no inline script or style), X-Frame-Options DENY,
// Referrer-Policy no-referrer and X-Content-Type-Options nosniff. Agents
// report hostnames and certificate subjects, which are untrusted: the
// script builds the DOM with textContent only, never innerHTML.
//
// The tests drive headless Chromium (Debian package chromium) over the
// DevTools protocol against a real collector filled with generated data,
// compare each figure a page shows with the API and save a screenshot of
// every page to $ANCHORWATCH_ARTIFACTS (default a temporary directory).
package web
