module github.com/ferryhttp/ferry/cmd/ferry

go 1.26.0

require (
	github.com/ferryhttp/ferry v0.0.0
	github.com/google/go-cmp v0.7.0
)

require (
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)

replace github.com/ferryhttp/ferry => ../..
