package node

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// S3Key is an access key of the S3 gateway: its id, its secret, and the
// account it acts for.
type S3Key struct {
	AccessKeyID string    `json:"access_key_id"`
	Secret      string    `json:"secret_access_key"`
	Account     string    `json:"account"`
	Created     time.Time `json:"created"`
	// APIKey is the account's API key: the node signs the account's
	// consent to what a request asks with it (billing.AccountKey). The
	// user gave it to this node to make the access key, as they give it
	// with every request of the JSON:API.
	APIKey string `json:"api_key"`
}

// s3Keys keeps a node's S3 access keys in one file of its data dir
// (0600): a node knows only the keys made through it (spec: "kept in its
// local store").
type s3Keys struct {
	path string
	mu   sync.Mutex
	keys map[string]S3Key // by access key id
}

func openS3Keys(dir string) (*s3Keys, error) {
	k := &s3Keys{path: filepath.Join(dir, "s3-keys.json"), keys: map[string]S3Key{}}
	b, err := os.ReadFile(k.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return k, nil
	case err != nil:
		return nil, fmt.Errorf("read s3 keys: %w", err)
	}
	var list []S3Key
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("read s3 keys %s: %w", k.path, err)
	}
	for _, key := range list {
		k.keys[key.AccessKeyID] = key
	}
	return k, nil
}

// add makes a new access key for the caller and keeps it.
func (k *s3Keys) add(by Caller, now time.Time) (S3Key, error) {
	var id [12]byte
	var secret [30]byte
	if _, err := rand.Read(id[:]); err != nil {
		return S3Key{}, fmt.Errorf("new s3 key: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return S3Key{}, fmt.Errorf("new s3 key: %w", err)
	}
	key := S3Key{
		// 20 characters like AWS's access key ids, "DDS" first.
		AccessKeyID: "DDS" + base32.StdEncoding.EncodeToString(id[:])[:17],
		Secret:      base64.RawStdEncoding.EncodeToString(secret[:]),
		Account:     by.Account, APIKey: by.APIKey, Created: now,
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[key.AccessKeyID] = key
	if err := k.save(); err != nil {
		delete(k.keys, key.AccessKeyID)
		return S3Key{}, err
	}
	return key, nil
}

func (k *s3Keys) save() error {
	list := make([]S3Key, 0, len(k.keys))
	for _, key := range k.keys {
		list = append(list, key)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return fmt.Errorf("save s3 keys: %w", err)
	}
	if err := writeFileAtomic(k.path, b, 0o600); err != nil {
		return fmt.Errorf("save s3 keys: %w", err)
	}
	return nil
}

func (k *s3Keys) get(id string) (S3Key, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	key, ok := k.keys[id]
	return key, ok
}

// caller is the caller an account's requests act as: the API key of any
// access key of the account.
func (k *s3Keys) caller(account string) (Caller, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, key := range k.keys {
		if key.Account == account {
			return Caller{Account: account, APIKey: key.APIKey}, true
		}
	}
	return Caller{}, false
}

// CreateS3Key makes an S3 access key for the caller's account on this node.
func (n *Node) CreateS3Key(ctx context.Context, by Caller) (S3Key, error) {
	if by.Account == "" {
		return S3Key{}, fmt.Errorf("%w: an S3 key is made with an account's API key", ErrUnauthorized)
	}
	s, err := n.S3()
	if err != nil {
		return S3Key{}, err
	}
	return s.keys.add(by, n.now())
}
