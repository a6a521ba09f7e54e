module github.com/ferryhttp/ferry/cmd/ferry

go 1.26.0

require (
	github.com/ferryhttp/ferry v0.0.0
	github.com/ferryhttp/ferry/pac v0.0.0
	github.com/ferryhttp/ferry/proxyauth/negotiate v0.0.0
	github.com/ferryhttp/ferry/proxyauth/ntlm v0.0.0
	github.com/google/go-cmp v0.7.0
)

require (
	github.com/dlclark/regexp2 v1.11.4 // indirect
	github.com/dop251/goja v0.0.0-20260311135729-065cd970411c // indirect
	github.com/go-sourcemap/sourcemap v2.1.3+incompatible // indirect
	github.com/google/pprof v0.0.0-20230207041349-798e818bf904 // indirect
)

require (
	github.com/Azure/go-ntlmssp v0.1.1 // indirect
	github.com/hashicorp/go-uuid v1.0.3 // indirect
	github.com/jcmturner/aescts/v2 v2.0.0 // indirect
	github.com/jcmturner/dnsutils/v2 v2.0.0 // indirect
	github.com/jcmturner/gofork v1.7.6 // indirect
	github.com/jcmturner/goidentity/v6 v6.0.1 // indirect
	github.com/jcmturner/gokrb5/v8 v8.4.4 // indirect
	github.com/jcmturner/rpc/v2 v2.0.3 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace (
	github.com/ferryhttp/ferry => ../..
	github.com/ferryhttp/ferry/pac => ../../pac
	github.com/ferryhttp/ferry/proxyauth/negotiate => ../../proxyauth/negotiate
	github.com/ferryhttp/ferry/proxyauth/ntlm => ../../proxyauth/ntlm
)
