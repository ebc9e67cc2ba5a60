package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"mini/mini/container"
)

const psUsage = "ps [-a] [-q] [--no-trunc]"

// psMain lists containers, docker ps's columns: the running ones, or all
// with -a; their ids alone with -q.
func psMain(args []string) int {
	fs, root := commandFlags("ps", psUsage)
	all := fs.BoolP("all", "a", false, "show all containers (default: the running ones)")
	quiet := fs.BoolP("quiet", "q", false, "print the container ids only")
	noTrunc := fs.Bool("no-trunc", false, "do not shorten the command")
	if err := parseCommand(fs, args, 0, psUsage); err != nil {
		return commandExit(err)
	}
	list, err := container.All(absRoot(*root), recipe, os.Stderr)
	if err != nil {
		return commandExit(err)
	}
	now := time.Now()
	w := tabwriter.NewWriter(os.Stdout, 10, 1, 3, ' ', 0)
	if !*quiet {
		fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
	}
	for _, s := range list {
		if !*all && s.Status != container.Running {
			continue
		}
		if *quiet {
			fmt.Fprintln(w, s.ID)
			continue
		}
		command := strings.Join(s.Args, " ")
		if !*noTrunc {
			command = ellipsis(command, 20)
		}
		fmt.Fprintf(w, "%s\t%s\t%q\t%s ago\t%s\t%s\t%s\n", s.ID, s.Image, command,
			humanDuration(now.Sub(s.Created)), status(s, now), ports(s), s.Name)
	}
	w.Flush()
	return 0
}

// status is docker's STATUS column: "Up 3 seconds", "Exited (0) 2 minutes
// ago", "Created".
func status(s *container.State, now time.Time) string {
	switch s.Status {
	case container.Running:
		return "Up " + humanDuration(now.Sub(s.Started))
	case container.Exited:
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(now.Sub(s.Finished)))
	}
	return "Created"
}

// ports is docker's PORTS column: the published ports.
func ports(s *container.State) string {
	var out []string
	for _, p := range s.Spec.Ports {
		out = append(out, p.String())
	}
	return strings.Join(out, ", ")
}

// ellipsis shortens s to max runes, the last one "…", as docker does.
func ellipsis(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}

// humanDuration says how long d is as docker does (go-units's
// HumanDuration): "Less than a second", "3 seconds", "About a minute",
// "5 minutes", "About an hour", "3 hours", "2 days", "3 weeks", "4 months",
// "2 years".
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < 1 {
		return "Less than a second"
	} else if seconds == 1 {
		return "1 second"
	} else if seconds < 60 {
		return fmt.Sprintf("%d seconds", seconds)
	} else if minutes := int(d.Minutes()); minutes == 1 {
		return "About a minute"
	} else if minutes < 60 {
		return fmt.Sprintf("%d minutes", minutes)
	} else if hours := int(d.Hours() + 0.5); hours == 1 {
		return "About an hour"
	} else if hours < 48 {
		return fmt.Sprintf("%d hours", hours)
	} else if hours < 24*7*2 {
		return fmt.Sprintf("%d days", hours/24)
	} else if hours < 24*30*2 {
		return fmt.Sprintf("%d weeks", hours/24/7)
	} else if hours < 24*365*2 {
		return fmt.Sprintf("%d months", hours/24/30)
	}
	return fmt.Sprintf("%d years", int(d.Hours())/24/365)
}
