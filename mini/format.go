package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// docker inspect's --format is a Go template. mini reads the part of it
// people use: text, and actions {{.Field.Field}} and {{json .Field}}. Not
// text/template itself: a program that calls methods by name through
// reflection, as templates do, keeps every method of every type in the
// binary, and mini's grew by 3.8 MB, which every run pays to start.

// formatPart is text, or an action: a path of fields, and json or not.
type formatPart struct {
	text   string
	fields []string
	action bool
	json   bool
}

// parseFormat splits a format into its parts.
func parseFormat(f string) ([]formatPart, error) {
	var parts []formatPart
	for f != "" {
		i := strings.Index(f, "{{")
		if i < 0 {
			parts = append(parts, formatPart{text: f})
			break
		}
		if i > 0 {
			parts = append(parts, formatPart{text: f[:i]})
		}
		j := strings.Index(f[i:], "}}")
		if j < 0 {
			return nil, errors.New("unclosed action: want {{.Field}}")
		}
		action := strings.Fields(strings.Trim(f[i+2:i+j], "- "))
		p := formatPart{action: true}
		if len(action) == 2 && action[0] == "json" {
			p.json, action = true, action[1:]
		}
		if len(action) != 1 || !strings.HasPrefix(action[0], ".") {
			return nil, fmt.Errorf("%q: mini knows {{.Field.Field}} and {{json .Field}}", f[i:i+j+2])
		}
		if action[0] != "." {
			p.fields = strings.Split(strings.TrimPrefix(action[0], "."), ".")
		}
		parts = append(parts, p)
		f = f[i+j+2:]
	}
	return parts, nil
}

// applyFormat writes v through the parts.
func applyFormat(w io.Writer, parts []formatPart, v any) error {
	for _, p := range parts {
		if !p.action {
			io.WriteString(w, p.text)
			continue
		}
		x := reflect.ValueOf(v)
		for _, name := range p.fields {
			if x.Kind() == reflect.Pointer {
				x = x.Elem()
			}
			if x.Kind() == reflect.Map {
				x = x.MapIndex(reflect.ValueOf(name))
				if !x.IsValid() {
					return fmt.Errorf("map has no key %q", name)
				}
				continue
			}
			if x.Kind() != reflect.Struct {
				return fmt.Errorf("can't evaluate field %s in %s", name, x.Type())
			}
			if x = x.FieldByName(name); !x.IsValid() {
				return fmt.Errorf("can't evaluate field %s", name)
			}
		}
		if p.json {
			s, err := toJSON(x.Interface())
			if err != nil {
				return err
			}
			io.WriteString(w, s)
			continue
		}
		fmt.Fprint(w, x.Interface())
	}
	return nil
}
