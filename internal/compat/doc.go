// Package compat tests ferry inside the client libraries people already use
// (OpenTelemetry's otelhttp, go-retryablehttp, x/oauth2, the AWS SDK for Go
// v2) against loopback servers and ferry's in-process proxy. It is its own
// module so that ferry's go.mod keeps only golang.org/x/net and go-cmp; the
// root "go test ./..." does not enter it. Run it with:
//
//	(cd internal/compat && go test -race ./...)
package compat
