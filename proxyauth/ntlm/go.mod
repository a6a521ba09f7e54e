module github.com/ferryhttp/ferry/proxyauth/ntlm

go 1.26.0

require (
	github.com/Azure/go-ntlmssp v0.1.1
	github.com/ferryhttp/ferry v0.0.0
)

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/ferryhttp/ferry => ../..
