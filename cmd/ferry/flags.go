package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// errHelp is what parse returns for -h and --help: the caller prints the
// command's help on standard output and exits 0.
var errHelp = errors.New("help requested")

// cliFlag is one command-line flag. Adding a flag to a command is one call
// to a flagSet method in that command's register function (or in
// clientOptions.register for the flags get and bench share): the parser and
// the help text both come from that call.
type cliFlag struct {
	names []string // "-x", "--proxy"
	arg   string   // placeholder of the value in help; "" for a switch
	help  string
	set   func(v string) error
}

// flagSet parses the arguments of one command: flags in any order around
// one positional argument (a URL), short and long names, "--name=value" and
// "--name value", "--" before a positional argument that starts with "-".
type flagSet struct {
	cmd    string // "get", "bench"
	args   string // what follows the flags in the usage line: "URL"
	flags  []*cliFlag
	byName map[string]*cliFlag
}

func newFlagSet(cmd, args string) *flagSet {
	fs := &flagSet{cmd: cmd, args: args, byName: map[string]*cliFlag{}}
	fs.add("-h, --help", "", "show this help", func(string) error { return errHelp })
	return fs
}

// add registers a flag under its comma-separated names.
func (fs *flagSet) add(names, arg, help string, set func(string) error) {
	f := &cliFlag{arg: arg, help: help, set: set}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		if _, dup := fs.byName[n]; dup {
			panic("ferry: flag registered twice: " + n) // a programming error, found by any test
		}
		f.names = append(f.names, n)
		fs.byName[n] = f
	}
	fs.flags = append(fs.flags, f)
}

func (fs *flagSet) boolVar(p *bool, names, help string) {
	fs.add(names, "", help, func(string) error { *p = true; return nil })
}

func (fs *flagSet) stringVar(p *string, names, arg, help string) {
	fs.add(names, arg, help, func(v string) error { *p = v; return nil })
}

func (fs *flagSet) listVar(p *[]string, names, arg, help string) {
	fs.add(names, arg, help, func(v string) error { *p = append(*p, v); return nil })
}

// durationVar takes a Go duration ("1.5s", "200ms") or a number of seconds
// ("3", as curl's --connect-timeout takes), positive and at most max.
func (fs *flagSet) durationVar(p *time.Duration, names, help string, max time.Duration) {
	fs.add(names, "D", help, func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			secs, err2 := strconv.ParseFloat(v, 64)
			if err2 != nil {
				return fmt.Errorf("%q is not a duration (say 5s or 250ms)", v)
			}
			d = time.Duration(secs * float64(time.Second))
		}
		if d <= 0 || d > max {
			return fmt.Errorf("%v is out of range (0, %v]", d, max)
		}
		*p = d
		return nil
	})
}

// intVar takes an integer in [min, max]: bounds refuse absurd values
// (a million goroutines) before anything starts.
func (fs *flagSet) intVar(p *int, names, arg, help string, min, max int) {
	fs.add(names, arg, help, func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < min || n > max {
			return fmt.Errorf("%d is out of range [%d, %d]", n, min, max)
		}
		*p = n
		return nil
	})
}

// parse sets the flags and returns the one positional argument.
func (fs *flagSet) parse(args []string) (string, error) {
	var pos string
	setPos := func(a string) error {
		if fs.args == "" {
			return fmt.Errorf("unexpected argument %q", a)
		}
		if pos != "" {
			return fmt.Errorf("more than one %s: %q and %q", fs.args, pos, a)
		}
		pos = a
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			for _, rest := range args[i+1:] {
				if err := setPos(rest); err != nil {
					return "", err
				}
			}
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if err := setPos(a); err != nil {
				return "", err
			}
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		f, ok := fs.byName[name]
		if !ok && fs.setBundle(a) {
			continue
		}
		if !ok {
			return "", fmt.Errorf("unknown flag %s", name)
		}
		if f.arg != "" && !hasVal {
			if i+1 >= len(args) {
				return "", fmt.Errorf("flag %s needs a value", name)
			}
			i++
			val = args[i]
		} else if f.arg == "" && hasVal {
			return "", fmt.Errorf("flag %s takes no value", name)
		}
		if err := f.set(val); err != nil {
			if err == errHelp {
				return "", err
			}
			return "", fmt.Errorf("flag %s: %v", name, err)
		}
	}
	if pos == "" && fs.args != "" {
		return "", fmt.Errorf("no %s", fs.args)
	}
	return pos, nil
}

// setBundle sets a bundle of one-letter switches ("-sSf" for -s -S -f, as
// curl takes them) and reports whether a was one.
func (fs *flagSet) setBundle(a string) bool {
	if len(a) < 3 || a[1] == '-' {
		return false
	}
	var fl []*cliFlag
	for _, r := range a[1:] {
		f, ok := fs.byName["-"+string(r)]
		if !ok || f.arg != "" {
			return false
		}
		fl = append(fl, f)
	}
	for _, f := range fl {
		if err := f.set(""); err != nil {
			return false
		}
	}
	return true
}

// usage writes the flags, one a line, in the order they were registered.
func (fs *flagSet) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n\nflags:\n", strings.TrimSpace("ferry "+fs.cmd+" [flags] "+fs.args))
	for _, f := range fs.flags {
		names := strings.Join(f.names, ", ")
		if strings.HasPrefix(names, "--") {
			names = "    " + names // long names aligned under those of flags with a short one
		}
		if f.arg != "" {
			names += " " + f.arg
		}
		fmt.Fprintf(w, "  %-28s %s\n", names, f.help)
	}
	fmt.Fprint(w, "\n"+exitCodes)
}
