// Package compat holds tests that run ferry inside client libraries people
// already use (OpenTelemetry's otelhttp, go-retryablehttp, x/oauth2, the AWS
// SDK). It is a module of its own, so ferry's go.mod keeps only x/net and
// go-cmp. Run: (cd internal/compat && go test -race ./...)
package compat
