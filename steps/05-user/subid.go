package user

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"mini/steps"
)

// Range is one line of /etc/subuid or /etc/subgid: Count host ids from Start
// are the user's to map (subuid(5)).
type Range struct {
	Start, Count int
}

// ReadSubIDs returns the ranges the file at path gives to the user called
// name, whose id is id: lines are NAME:START:COUNT, where NAME may also be
// the numeric id. A missing file gives none.
func ReadSubIDs(path, name string, id int) ([]Range, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ranges []Range
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		owner, r, err := parseSubID(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %s: fix or remove the line", path, n, err)
		}
		if owner == name || owner == strconv.Itoa(id) {
			ranges = append(ranges, r)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ranges, nil
}

func parseSubID(line string) (string, Range, error) {
	parts := strings.Split(line, ":")
	if len(parts) != 3 || parts[0] == "" {
		return "", Range{}, fmt.Errorf("%q: want NAME:START:COUNT", line)
	}
	start, err1 := strconv.ParseUint(parts[1], 10, 32)
	count, err2 := strconv.ParseUint(parts[2], 10, 32)
	if err1 != nil || err2 != nil || count == 0 || last(int(start), int(count)) > maxID {
		return "", Range{}, fmt.Errorf("%q: START and COUNT must be numbers, COUNT at least 1, START+COUNT at most %d", line, maxID+1)
	}
	return parts[0], Range{Start: int(start), Count: int(count)}, nil
}

// mapRanges maps the container's ids 0, 1, ... onto ranges, in order, as
// podman does with a user's subordinate ids.
func mapRanges(ranges []Range) []steps.IDMap {
	var maps []steps.IDMap
	next := 0
	for _, r := range ranges {
		maps = append(maps, steps.IDMap{ContainerID: next, HostID: r.Start, Size: r.Count})
		next += r.Count
	}
	return maps
}
