// Package anyauth holds the test of ferry's choice among proxy
// authentication schemes against one squid offering all four. It is a
// module of its own because it needs both nested scheme modules
// (proxyauth/ntlm and proxyauth/negotiate), which neither should require of
// the other.
package anyauth
