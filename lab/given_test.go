// Package lab holds the workshop's exercises, one package per step; see
// README.md. This test keeps each lab's given*.go files, the parts of a step
// the lab does not ask the learner to write, equal to mini's own code.
package lab

import (
	"bytes"
	"flag"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "copy mini's code again into lab/*/given*.go")

// TestGivenIsMinis compares every declaration of lab/NN-name/given*.go with
// the declaration of the same name in steps/NN-name. After a change to a
// step, go test ./lab -update copies mini's declarations (and their
// comments) into the lab again; add any import the compiler then asks for.
func TestGivenIsMinis(t *testing.T) {
	givens, err := filepath.Glob("*/given*.go")
	if err != nil || len(givens) == 0 {
		t.Fatalf("no lab/*/given*.go: %v", err)
	}
	for _, given := range givens {
		lab := filepath.Dir(given)
		refs, _ := filepath.Glob(filepath.Join("..", "steps", lab, "*.go"))
		ref := parseDecls(t, refs...)
		mine := parseDecls(t, given)
		if *update {
			rewrite(t, given, mine, ref)
			continue
		}
		for name, d := range mine {
			r, ok := ref[name]
			if !ok {
				t.Errorf("%s: %s is not in steps/%s: remove it", given, name, lab)
			} else if d.code != r.code {
				t.Errorf("%s: %s differs from steps/%s's: run go test ./lab -update\n--- lab:\n%s\n--- mini:\n%s", given, name, lab, d.code, r.code)
			}
		}
	}
}

// decl is one top-level declaration: its code printed without comments, and
// its source text with its doc comment, where it is in its file.
type decl struct {
	code       string
	text       []byte
	start, end int
}

// parseDecls returns the top-level declarations of the files (not tests) by
// name: "f", "Step.Validate", "(*v1).setMemory", "devices".
func parseDecls(t *testing.T, files ...string) map[string]decl {
	out := map[string]decl{}
	for _, file := range files {
		if filepath.Ext(file) != ".go" || strings.HasSuffix(file, "_test.go") {
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			name, doc := declName(d)
			if name == "" {
				continue
			}
			var b bytes.Buffer
			if err := printer.Fprint(&b, token.NewFileSet(), stripComments(d)); err != nil {
				t.Fatal(err)
			}
			start := d.Pos()
			if doc != nil {
				start = doc.Pos()
			}
			s, e := fset.Position(start).Offset, fset.Position(end(d)).Offset
			out[name] = decl{code: b.String(), text: src[s:e], start: s, end: e}
		}
	}
	return out
}

// stripComments returns d without its doc comment, so that only code is
// compared (printer.Fprint of a node prints no other comments).
func stripComments(d ast.Decl) ast.Decl {
	switch d := d.(type) {
	case *ast.FuncDecl:
		c := *d
		c.Doc = nil
		return &c
	case *ast.GenDecl:
		c := *d
		c.Doc = nil
		c.Specs = nil
		for _, s := range d.Specs {
			if v, ok := s.(*ast.ValueSpec); ok {
				vc := *v
				vc.Doc, vc.Comment = nil, nil
				s = &vc
			}
			c.Specs = append(c.Specs, s)
		}
		return &c
	}
	return d
}

// end is where d ends, its trailing line comment included (const x = 1 // µs).
func end(d ast.Decl) token.Pos {
	if g, ok := d.(*ast.GenDecl); ok && len(g.Specs) == 1 {
		if v, ok := g.Specs[0].(*ast.ValueSpec); ok && v.Comment != nil {
			return v.Comment.End()
		}
	}
	return d.End()
}

func declName(d ast.Decl) (string, *ast.CommentGroup) {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv == nil {
			return d.Name.Name, d.Doc
		}
		typ := d.Recv.List[0].Type
		if star, ok := typ.(*ast.StarExpr); ok {
			if id, ok := star.X.(*ast.Ident); ok {
				return "(*" + id.Name + ")." + d.Name.Name, d.Doc
			}
		}
		if id, ok := typ.(*ast.Ident); ok {
			return id.Name + "." + d.Name.Name, d.Doc
		}
	case *ast.GenDecl:
		if d.Tok == token.IMPORT {
			return "", nil
		}
		// A group, var ( a = 1; b = 2 ), is one declaration: "a,b".
		var names []string
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				for _, n := range s.Names {
					names = append(names, n.Name)
				}
			case *ast.TypeSpec:
				names = append(names, s.Name.Name)
			}
		}
		return strings.Join(names, ","), d.Doc
	}
	return "", nil
}

// rewrite replaces each declaration of the file by mini's, comment included.
func rewrite(t *testing.T, file string, mine, ref map[string]decl) {
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range mine {
		names = append(names, name)
	}
	// From the end of the file, so the offsets before stay right.
	sort.Slice(names, func(i, j int) bool { return mine[names[i]].start > mine[names[j]].start })
	for _, name := range names {
		r, ok := ref[name]
		if !ok {
			t.Errorf("%s: %s is not in mini's step any more: remove it by hand", file, name)
			continue
		}
		d := mine[name]
		src = append(append(append([]byte{}, src[:d.start]...), r.text...), src[d.end:]...)
	}
	out, err := format.Source(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
