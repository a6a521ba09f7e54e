//go:build !race

package pac_test

// slowBuiltin runs for about a second inside one builtin call, where goja's
// Interrupt is not looked at (100 MB of string, freed when it ends).
const slowBuiltin = `'x'.repeat(1e8).length`
