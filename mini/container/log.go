package container

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The log of a detached container is docker's json-file format: one JSON
// object a line, each a piece of what the command wrote, which stream, and
// when the monitor read it.
//
//	{"log":"hello\n","stream":"stdout","time":"2025-01-02T03:04:05.123456789Z"}
//
// A line longer than maxLine is split into pieces without "\n", as docker
// splits them at 16 KiB. When the file would grow past its cap it is renamed
// to <id>-json.log.1 (an older .1 is dropped) and a new one started: at
// most twice the cap on disk, whatever the command writes.

// Entry is one line of the log.
type Entry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"` // "stdout" or "stderr"
	Time   time.Time `json:"time"`   // RFC 3339 with nanoseconds, UTC
}

const (
	maxLine = 16 << 10
	// DefaultLogMax is the cap of a log file when run sets none (--log-opt
	// max-size).
	DefaultLogMax = 10 << 20
)

// LogPath is the log of container id: <root>/containers/<id>/<id>-json.log,
// docker's name.
func LogPath(root, id string) string {
	return filepath.Join(Dir(root, id), id+"-json.log")
}

// LogWriter appends entries to a log file. The streams are copied by two
// goroutines; a mutex keeps their lines whole.
type LogWriter struct {
	mu   sync.Mutex
	path string
	f    *os.File
	size int64
	max  int64
}

// CreateLog creates the log of container id, capped at max bytes.
func CreateLog(root, id string, max int64) (*LogWriter, error) {
	path := LogPath(root, id)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	return &LogWriter{path: path, f: f, max: max}, nil
}

// Copy writes what r yields as entries of stream until r ends.
func (w *LogWriter) Copy(stream string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if werr := w.write(Entry{Log: string(line), Stream: stream, Time: time.Now().UTC()}); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF), errors.Is(err, os.ErrDeadlineExceeded):
			return nil
		default:
			return err
		}
	}
}

func (w *LogWriter) write(e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	data = append(data, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.size > 0 && w.size+int64(len(data)) > w.max {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.f.Write(data)
	w.size += int64(n)
	return err
}

// rotate renames the full file to .1 and starts a new one.
func (w *LogWriter) rotate() error {
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		return fmt.Errorf("rotate %s: %w", w.path, err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", w.path, err)
	}
	w.f.Close()
	w.f, w.size = f, 0
	return nil
}

// Close closes the file.
func (w *LogWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

// ReadLog returns every entry of container id's log, the oldest first, and
// where the current file ended, for Follow.
func ReadLog(root, id string) ([]Entry, int64, error) {
	path := LogPath(root, id)
	var all []Entry
	if f, err := os.Open(path + ".1"); err == nil {
		all, _, err = readEntries(f, nil)
		f.Close()
		if err != nil {
			return nil, 0, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	all, n, err := readEntries(f, all)
	return all, n, err
}

// readEntries appends the whole lines of f, from its offset, to all, and
// says how many bytes they took: a line being written is left for later.
func readEntries(f *os.File, all []Entry) ([]Entry, int64, error) {
	br := bufio.NewReader(f)
	var n int64
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return all, n, nil
		}
		if err != nil {
			return all, n, err
		}
		n += int64(len(line))
		var e Entry
		if err := json.Unmarshal(line, &e); err != nil {
			return all, n, fmt.Errorf("%s: %w", f.Name(), err)
		}
		all = append(all, e)
	}
}
