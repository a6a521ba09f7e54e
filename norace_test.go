//go:build !race

package ferry_test

const raceEnabled = false
