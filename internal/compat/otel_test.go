package compat_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/httptrace/otelhttptrace"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// TestOtelHTTP wraps ferry in otelhttp.NewTransport: one client span per
// request with the response status, the traceparent of that span reaches
// the origin (through a forwarding proxy and inside a tunnel alike), and the
// CONNECT carries no trace header. With otelhttptrace the httptrace hooks
// ferry fires become child spans.
func TestOtelHTTP(t *testing.T) {
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			l := newLab(t, "", nil)
			o := l.origin(v)
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { tp.Shutdown(context.Background()) })

			ferryTr := l.transport(v)
			defer ferryTr.CloseIdleConnections()
			client := &http.Client{Transport: otelhttp.NewTransport(ferryTr,
				otelhttp.WithTracerProvider(tp),
				otelhttp.WithPropagators(propagation.TraceContext{}),
				otelhttp.WithClientTrace(func(ctx context.Context) *httptrace.ClientTrace {
					return otelhttptrace.NewClientTrace(ctx, otelhttptrace.WithTracerProvider(tp))
				}),
			)}
			const n = 3
			for i := 0; i < n; i++ {
				resp, err := client.Get(o.URL + "/traced")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}

			var clientSpans []tracetest.SpanStub
			children := map[string]int{}
			for _, s := range exp.GetSpans() {
				if s.SpanKind == trace.SpanKindClient {
					clientSpans = append(clientSpans, s)
				} else {
					children[s.Name]++
				}
			}
			if len(clientSpans) != n {
				t.Fatalf("%d client spans, want %d: %+v", len(clientSpans), n, exp.GetSpans())
			}
			got := o.received()
			if len(got) != n {
				t.Fatalf("origin got %d requests, want %d", len(got), n)
			}
			for i, s := range clientSpans {
				status := ""
				for _, a := range s.Attributes {
					if a.Key == "http.response.status_code" {
						status = a.Value.Emit()
					}
				}
				if status != "200" {
					t.Errorf("span %d: http.response.status_code %q, want 200 (attributes %v)", i, status, s.Attributes)
				}
				// Each request carries the traceparent of its own client span.
				want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"
				if tp := got[i].Header.Get("Traceparent"); tp != want {
					t.Errorf("request %d: origin got traceparent %q, want %q", i, tp, want)
				}
			}

			// httptrace-driven child spans: a connection per request, the dial
			// and the TLS handshake once (the connection is kept alive).
			wantChildren := map[string]int{"http.getconn": n, "http.send": n, "http.receive": n, "http.connect": 1}
			if v.secure {
				wantChildren["http.tls"] = 1
			}
			for name, c := range wantChildren {
				if children[name] != c {
					t.Errorf("%d %q spans, want %d (all children: %v)", children[name], name, c, children)
				}
			}

			if diff := cmp.Diff(wantProxyRecords(v, o, "GET", "/traced", n), l.proxyRecords()); diff != "" {
				t.Errorf("proxy received (-want +got):\n%s", diff)
			}
			for _, r := range l.proxy.Requests() {
				if r.Method == "CONNECT" && r.Header.Get("Traceparent") != "" {
					t.Errorf("CONNECT carried traceparent %q", r.Header.Get("Traceparent"))
				}
			}
		})
	}
}

