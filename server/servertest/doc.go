// Package servertest starts real collectors and real PostgreSQL servers
// for tests, the way net/http/httptest starts HTTP servers.
//
//	c := servertest.StartCollector(t, servertest.Options{})
//	// c.URL, c.EnrollSecret, c.AdminToken, c.ViewerToken, c.Client()
//
//	pgURL := servertest.StartPostgres(t) // a fresh database, torn down after t
//
// StartCollector runs the real collector (server.New) over a SQLite file
// in t.TempDir(), or over Options.DBURL (e.g. a StartPostgres URL), on
// 127.0.0.1 with a self-signed certificate unless Options.InsecureHTTP.
//
// StartPostgres needs the Debian package postgresql (binaries in
// /usr/lib/postgresql/15/bin, or $ANCHORWATCH_PG_BIN); it runs initdb and
// pg_ctl into a temporary directory, listening on a private port on
// 127.0.0.1 and a private unix socket directory. As root it runs them as
// the user "postgres". A test package that needs many databases starts one
// cluster in TestMain with NewPostgresCluster and calls NewDatabase per test.
package servertest
