//go:build race

package pac_test

// slowBuiltin runs for about a second inside one builtin call, where goja's
// Interrupt is not looked at; the race detector slows goja about tenfold.
const slowBuiltin = `'x'.repeat(1e7).length`
