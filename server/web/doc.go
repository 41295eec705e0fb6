// Package web is the collector's web dashboard: plain HTML, CSS and
// JavaScript embedded in the binary (no build step, no CDN, no external
// font), served at "/" by the collector (server.Config.UI):
//
//	st, _ := store.Open(ctx, dbURL)
//	lim := throttle.New(throttle.Options{})
//	srv, _ := server.New(server.Config{Store: st, Limiter: lim, UI: web.Handler(web.Options{Sessions: st, Limiter: lim})})
//
// Pages: the fleet overview (compliance by host status, store kind, OS and
// policy serial; stale and retired hosts; the compliance trend at each
// full hour and now, drawn as inline SVG), the hosts table with the API's
// filters (lifecycle too) and cursor pagination (and a CSV export), a
// host's stores, roots, CAs, addresses and events (and an admin's host
// actions), fleet events newest first, unknown and blocked roots, CA
// expiry, unmanaged devices, and
// PKI health (the CA checks, and the subnets that cannot reach each CRL
// distribution point and OCSP responder).
// Every figure is read from the dashboard JSON API (api) by the
// page's script; the HTML carries no data.
//
// Sign-in: a viewer (or admin) API token, pasted into the form on /login
// (a plain HTML form that works without JavaScript; it carries an
// anti-forgery value that must match the login page's cookie, and
// cross-site posts are refused). The collector then opens a server-side
// session (store.CreateSession: a random 256-bit id, stored hashed) and
// sets only its id in an HttpOnly, SameSite=Strict cookie (Secure over
// TLS) named api.SessionCookie, which the collector accepts for GET and
// HEAD — and, for an admin, for the host actions the host page offers
// (retire, delete, merge), sent with the session's anti-forgery value
// from GET /api/v1/whoami in the X-Anchorwatch-CSRF header, from the
// dashboard's own origin only: the page's script never holds a
// credential, and a cross-site request cannot make a signed-in browser
// change anything. A session ends
// after SessionIdle without a request, SessionMax after sign-in, at
// sign-out (POST /logout), and when its token is revoked. Sign-in links
// (/login#token=…) are not accepted: the login page removes such a token
// from the address bar and says to paste it instead. Failed sign-ins (and
// failed session or bearer checks) count per source address and token
// prefix in a throttle.Limiter shared with the API: past a few, 429 with
// Retry-After. Without a valid session every page (and the application
// script) redirects to /login, and the API answers 401; only the login
// page, its script, the stylesheet and the icon are public.
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
