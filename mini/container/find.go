package container

import (
	"fmt"
	"io"
	"strings"
)

// Find returns the container ref names, as docker finds one: its whole id,
// then its name (with or without docker's leading "/"), then a prefix of its
// id that no other container's id has. Its state is refreshed first
// (Refresh). A container that is not there is "No such container: ref",
// docker's words.
func Find(root, ref string, recipe Recipe, out io.Writer) (*State, error) {
	all, err := List(root)
	if err != nil {
		return nil, err
	}
	s, err := match(all, ref)
	if err != nil {
		return nil, err
	}
	s, err = Refresh(s, recipe, out)
	if s == nil && err == nil {
		return nil, fmt.Errorf("No such container: %s", ref)
	}
	return s, err
}

// match picks ref's container among all.
func match(all []*State, ref string) (*State, error) {
	if ref == "" {
		return nil, fmt.Errorf("No such container: %q", ref)
	}
	for _, s := range all {
		if s.ID == ref {
			return s, nil
		}
	}
	name := strings.TrimPrefix(ref, "/")
	for _, s := range all {
		if s.Name == name {
			return s, nil
		}
	}
	var found []*State
	for _, s := range all {
		if strings.HasPrefix(s.ID, ref) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("No such container: %s", ref)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("multiple containers found with the id prefix %s: give more of the id, or the name", ref)
}

// All returns every container's state under root, refreshed (Refresh), the
// newest first.
func All(root string, recipe Recipe, out io.Writer) ([]*State, error) {
	all, err := List(root)
	if err != nil {
		return nil, err
	}
	var fresh []*State
	for _, s := range all {
		id := s.ID
		s, err := Refresh(s, recipe, out)
		if err != nil {
			fmt.Fprintf(out, "mini: container %s: %v\n", id, err)
		}
		if s != nil {
			fresh = append(fresh, s)
		}
	}
	return fresh, nil
}
