// Package python is the adapter for the trust stores of Python programs.
//
// Python's ssl module uses OpenSSL's default store (the system store,
// stores/system), but requests, pip, conda, the Azure CLI and most HTTP
// libraries load a bundle of their own. The stores, and the mechanism
// each one uses (Info.Format):
//
//	format             store                                                   survives upgrades?
//	certifi            <site-packages>/certifi/cacert.pem of every environment no: `pip install -U certifi` replaces it; the agent heals it
//	pip-vendored       <site-packages>/pip/_vendor/certifi/cacert.pem           no: replaced with pip; listed only where pip uses it
//	configured-bundle  the file pip's cert, conda's ssl_verify, or a system-   yes: the configuration and the file are the admin's
//	                   wide REQUESTS_CA_BUNDLE / SSL_CERT_FILE / PIP_CERT name
//
// Environments are the system prefixes (/usr, /usr/local, /opt/*, conda's
// envs, macOS and Windows installs) and, in every home, virtualenvs
// (.venv, venv, virtualenvwrapper, pipenv, poetry, pipx, pyenv, the user
// site) and conda installs, plus a shallow scan for pyvenv.cfg in the
// home's directories and their children. pip ≥ 24.2 on Python ≥ 3.10
// uses the system store (truststore), so its vendored bundle is not a
// store there. A reference to the system bundle is left to stores/system.
//
// Files under a user's home are read and written as that user
// (stores/fsroot); a cacert.pem that is a link a user could have
// planted is reported, never followed.
package python
