package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"mini/steps"
)

// Which container uses which image. mini rmi must refuse to remove an
// image while a container uses its layers, running or stopped (step 8
// keeps a container's own layer, which sits on the image's). Each
// container made from a stored image has a small file in its state
// directory, <run root>/containers/<id>/image, beside its layers:
//
//	{"id": "sha256:<config digest>", "by": {"pid": 1234, "start": 5678}}
//
// id is the image's id. by is the mini that wrote it: until step 8 has
// made the container's layers, the file alone says that a run is starting.

// UseFile is the name of that file in a container's directory.
const UseFile = "image"

type use struct {
	ID string      `json:"id"`
	By steps.Owner `json:"by"`
}

// RecordUse writes that container dir (<run root>/containers/<id>) uses
// the image with this id. The directory is made as step 8 makes it (0711:
// the container's root passes through it to its layers).
func RecordUse(dir, imageID string) error {
	me, err := steps.Self()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o711); err != nil {
		return fmt.Errorf("mkdir %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	data, _ := json.Marshal(use{ID: imageID, By: me})
	if err := os.WriteFile(filepath.Join(dir, UseFile), data, 0o600); err != nil {
		return fmt.Errorf("record the container's image: %w", err)
	}
	return nil
}

// ForgetUse removes the record of a container that kept nothing (a run
// with --rm, one that failed, one below step 8), and its directory if it
// is then empty.
func ForgetUse(dir string) {
	os.Remove(filepath.Join(dir, UseFile))
	os.Remove(dir) // fails, as it should, if something else is kept there
}

// Users maps image ids to the containers under runRoot that use them: those
// that kept something beside the record (their layers, their state), and
// those still starting. A record alone whose writer is gone is what a mini
// killed early left: it is removed.
func Users(runRoot string) (map[string][]string, error) {
	out := map[string][]string{}
	dirs, err := filepath.Glob(filepath.Join(runRoot, "containers", "*", UseFile))
	if err != nil {
		return nil, err
	}
	for _, p := range dirs {
		dir := filepath.Dir(p)
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var u use
		if json.Unmarshal(data, &u) != nil || u.ID == "" {
			continue
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) == 1 && !u.By.Alive() {
			ForgetUse(dir)
			continue
		}
		out[u.ID] = append(out[u.ID], filepath.Base(dir))
	}
	for _, ids := range out {
		sort.Strings(ids)
	}
	return out, nil
}
