package journal

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// keyIdentity names the journal among all journals: the ids of its events
// are only meaningful with it (a publisher names an event without a GTID
// by identity and id).
var keyIdentity = []byte("identity")

// Identity returns the journal's identity, a random 128-bit hex string
// chosen on the first call to a writable journal and kept in the file. A
// read-only journal without one returns "".
func (j *Journal) Identity() (string, error) {
	var id string
	read := func(tx *bolt.Tx) error {
		id = string(tx.Bucket(bucketMeta).Get(keyIdentity))
		return nil
	}
	if err := j.db.View(read); err != nil || id != "" || j.opts.ReadOnly {
		return id, err
	}
	var b [16]byte
	rand.Read(b[:])
	return j.setIdentity(hex.EncodeToString(b[:]))
}

// AdoptIdentity gives a journal that has none the identity id: a journal
// rebuilt from another's published events continues under that journal's
// name (see nats.Restore). It refuses to change an identity already kept.
func (j *Journal) AdoptIdentity(id string) error {
	got, err := j.setIdentity(id)
	if err == nil && got != id {
		err = fmt.Errorf("journal %s already has identity %s, not %s", j.path, got, id)
	}
	return err
}

// setIdentity stores id unless the journal already has an identity, and
// returns the one kept.
func (j *Journal) setIdentity(id string) (string, error) {
	if id == "" || len(id) > 64 {
		return "", fmt.Errorf("journal identity %q is empty or too long", id)
	}
	err := j.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyIdentity); v != nil {
			id = string(v)
			return nil
		}
		return meta.Put(keyIdentity, []byte(id))
	})
	if err != nil {
		return "", fmt.Errorf("keep the identity of journal %s: %w", j.path, err)
	}
	return id, nil
}
