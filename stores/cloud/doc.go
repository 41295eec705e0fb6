// Package cloud is the adapter for the trust stores of cloud CLIs.
//
//	format             store                                                         survives upgrades?
//	configured-bundle  AWS_CA_BUNDLE set system-wide; ca_bundle in each ~/.aws/config   yes
//	                   profile; gcloud's core/custom_ca_certs_file in the SDK's
//	                   installation properties or a user's configurations
//	aws-cli-bundle     AWS CLI v2's own botocore/cacert.pem                           no: replaced by each CLI upgrade; healed
//	gcloud-bundle      the Cloud SDK's vendored certifi, used when no                  no: replaced by gcloud components update
//	                   custom_ca_certs_file is set for the installation
//
// AWS CLI v2's `aws sso login` and `aws configure sso` ignore both
// AWS_CA_BUNDLE and ca_bundle and verify with the CLI's own bundle
// (aws/aws-cli#7602, #8292): behind an inspecting proxy that bundle must
// hold the CA even where AWS_CA_BUNDLE is set, which is why it is a store.
//
// The Azure CLI is Python and reads REQUESTS_CA_BUNDLE: its certifi
// bundle (/opt/az, Program Files\Microsoft SDKs\Azure\CLI2) and the
// variable are stores of stores/python, App naming azure-cli.
package cloud
