package compat_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/logging"
	"github.com/google/go-cmp/cmp"

	"github.com/ferryhttp/ferry"
)

const stsReply = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/ferry</Arn>
    <UserId>AIDAFERRYEXAMPLE</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>c0ffee00-0000-4000-8000-000000000001</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>`

func stsHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", "c0ffee00-0000-4000-8000-000000000001")
	w.Write([]byte(stsReply))
}

// awsConfig loads an aws.Config the way applications do, isolated from the
// machine's AWS files and variables, with ferry inside config.WithHTTPClient:
// the route that works (WithTransportOptions wants an *http.Transport).
func awsConfig(t *testing.T, tr *ferry.Transport, opts ...func(*config.LoadOptions) error) aws.Config {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
	}
	opts = append([]func(*config.LoadOptions) error{
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDFERRYTEST", "secret", "")),
		config.WithHTTPClient(&http.Client{Transport: tr}),
	}, opts...)
	cfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestAWSSDK: STS GetCallerIdentity with ferry as the SDK's HTTP client,
// against a loopback endpoint, directly and through the proxy. The origin
// gets a signed form POST; the proxy forwards or tunnels it; the canned
// reply is parsed.
func TestAWSSDK(t *testing.T) {
	for _, v := range vias {
		t.Run(v.name, func(t *testing.T) {
			l := newLab(t, "", stsHandler)
			o := l.origin(v)
			tr := l.transport(v)
			defer tr.CloseIdleConnections()
			var logs sdkLog
			client := sts.NewFromConfig(awsConfig(t, tr, config.WithLogger(&logs)), func(opt *sts.Options) {
				opt.BaseEndpoint = aws.String(o.URL)
			})
			out, err := client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(out.Arn); got != "arn:aws:iam::123456789012:user/ferry" {
				t.Errorf("Arn %q", got)
			}
			if got := aws.ToString(out.Account); got != "123456789012" {
				t.Errorf("Account %q", got)
			}

			got := o.Received()
			if len(got) != 1 {
				t.Fatalf("origin got %d requests, want 1", len(got))
			}
			r := got[0]
			form, _ := url.ParseQuery(r.Body)
			if r.Method != "POST" || r.Path != "/" || form.Get("Action") != "GetCallerIdentity" || form.Get("Version") != "2011-06-15" {
				t.Errorf("origin got %s %s with body %q, want the STS form POST", r.Method, r.Path, r.Body)
			}
			auth := r.Header.Get("Authorization")
			if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDFERRYTEST/") || !strings.Contains(auth, "/us-east-1/sts/aws4_request") {
				t.Errorf("origin got Authorization %q, want a SigV4 signature for sts in us-east-1", auth)
			}
			if r.Host != o.Listener.Addr().String() {
				t.Errorf("origin got Host %q, want %q (the signed host)", r.Host, o.Listener.Addr())
			}
			if diff := cmp.Diff(wantProxyRecords(v, o, "POST", "/", 1), l.proxyRecords()); diff != "" {
				t.Errorf("proxy received (-want +got):\n%s", diff)
			}
			for _, pr := range l.proxy.Requests() {
				if pr.Method == http.MethodConnect && pr.Header.Get("Authorization") != "" {
					t.Errorf("CONNECT carried the SigV4 Authorization")
				}
			}
			// The SDK drains the body after parsing it, past EOF; with
			// net/http that is silent. See TestBodyReadAfterEOF.
			if w := logs.warnings(); len(w) > 0 {
				{
					t.Errorf("SDK warned: %q", w)
				}
			}
		})
	}
}

// sdkLog collects the SDK's log lines (the default logger prints them).
type sdkLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *sdkLog) Logf(c logging.Classification, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c == logging.Warn {
		l.lines = append(l.lines, fmt.Sprintf(format, v...))
	}
}

func (l *sdkLog) warnings() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// TestAWSSDKRetriesDialFailure: the SDK's retryer finds ferry's dial error
// with errors.As (*net.OpError) and retries it up to MaxAttempts.
func TestAWSSDKRetriesDialFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now: every dial is refused

	var dials atomic.Int32
	tr := &ferry.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	cfg := awsConfig(t, tr, config.WithRetryer(func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 3
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}))
	client := sts.NewFromConfig(cfg, func(opt *sts.Options) { opt.BaseEndpoint = aws.String(closed) })
	_, err = client.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err == nil {
		t.Fatal("call to a closed port succeeded")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("err = %v, want one that unwraps to a dial *net.OpError", err)
	}
	if n := dials.Load(); n != 3 {
		t.Errorf("%d dials, want 3 (the SDK retried the connection error)", n)
	}
}
