package testnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ddsnet/dds/billing"
	"github.com/ddsnet/dds/client"
	"github.com/ddsnet/dds/node"
	"github.com/ddsnet/dds/node/s3"
)

// A member that turned, and was never given an account's API key, cannot
// act for it, whatever command it forwards: not spend its balance, not
// claim or delete its files, not change them, not take or empty its
// buckets. It signs with keys of its own, or replays the account's
// consents it read in the log; every replica refuses, and the account is
// as it was.
func TestMemberCannotActForAnAccount(t *testing.T) {
	bn := startByzantineNet(t)
	ctx := t.Context()
	proc := clientOf(t, bn.Nodes[0])
	acc, err := proc.OpenAccount(ctx, "victim", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proc.Credit(ctx, acc.ID, 1_000_000_000, "", nil); err != nil {
		t.Fatal(err)
	}
	owner := clientOf(t, bn.Nodes[1], client.WithAPIKey(acc.APIKey))
	data := bytes.Repeat([]byte("mine "), 1000)
	f, err := owner.Upload(ctx, bytes.NewReader(data), client.UploadOptions{Name: "mine", Size: int64(len(data)), PayFromBalance: true})
	if err != nil || f.Payment == nil {
		t.Fatalf("owner's upload: %+v %v", f, err)
	}
	// A bucket of the account's, with one object, made through node1's
	// S3 storage.
	st, err := bn.Nodes[1].Node.S3()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bn.Nodes[1].Node.CreateS3Key(ctx, node.Caller{Account: acc.ID, APIKey: acc.APIKey}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateBucket(ctx, acc.ID, "victims"); err != nil {
		t.Fatal(err)
	}
	obj, err := st.PutObject(ctx, acc.ID, "victims", "k", s3.NewObjectInput(bytes.NewReader([]byte("object")), 6, s3.Meta{}))
	if err != nil {
		t.Fatal(err)
	}
	// The object's file: the account's file named after the key.
	files, _, err := owner.Files(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	objID := ""
	for _, g := range files {
		if g.Name == "k" {
			objID = g.ID
		}
	}
	if objID == "" {
		t.Fatalf("no file for the object among %+v", files)
	}
	quoted := bn.quote() // an unpaid file of nobody's
	before, err := owner.Account(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}

	a := bn.memberAttacker()
	lid := a.connect(bn.leader())
	a.register(lid)
	forged, err := billing.NewAPIKey() // a key of the attacker's, not the account's
	if err != nil {
		t.Fatal(err)
	}
	q, _ := clientOf(t, bn.Nodes[2]).File(ctx, quoted.ID)
	me := a.host.ID().String()
	patch := map[string]json.RawMessage{"stolen": json.RawMessage(`true`)}
	for name, cmd := range map[string]billing.Command{
		"pay a quote from the balance": {Pay: &billing.Pay{PaymentID: "steal", FileID: quoted.ID, Status: billing.PaymentSuccess,
			Amount: int64(q.Price), ReceivedBy: me, From: billing.Consent(acc.ID, forged, billing.PayMessage(acc.ID, "steal", quoted.ID, int64(q.Price)))}},
		"delete its file":             {Delete: &billing.Delete{FileID: f.ID, Auth: *billing.Consent(acc.ID, forged, billing.DeleteMessage(acc.ID, f.ID))}},
		"change its file":             {Update: &billing.Update{FileID: f.ID, Additional: patch, Auth: billing.Consent(acc.ID, forged, billing.UpdateMessage(acc.ID, f.ID, 0, patch))}},
		"change its file, no consent": {Update: &billing.Update{FileID: f.ID, Additional: patch}},
		"make a bucket in its name":   {MakeBucket: &billing.MakeBucket{Name: "taken", Auth: *billing.Consent(acc.ID, forged, billing.MakeBucketMessage(acc.ID, "taken", 0))}},
		"put its file in a bucket": {PutObject: &billing.PutObject{Bucket: "taken", Key: "k", FileID: f.ID,
			Auth: *billing.Consent(acc.ID, forged, billing.PutObjectMessage(acc.ID, "taken", "k", f.ID, "", nil))}},
		"put another file at its key": {PutObject: &billing.PutObject{Bucket: "victims", Key: "k", FileID: f.ID,
			Auth: *billing.Consent(acc.ID, forged, billing.PutObjectMessage(acc.ID, "victims", "k", f.ID, "", nil))}},
		"delete its object": {DeleteObjects: &billing.DeleteObjects{Bucket: "victims", Objects: []billing.ObjectRef{{Key: "k", FileID: objID}},
			Auth: *billing.Consent(acc.ID, forged, billing.DeleteObjectsMessage(acc.ID, "victims", []billing.ObjectRef{{Key: "k", FileID: objID}}))}},
		"delete its bucket": {DropBucket: &billing.DropBucket{Name: "victims", Auth: *billing.Consent(acc.ID, forged, billing.DropBucketMessage(acc.ID, "victims", 0))}},
	} {
		if err := a.forward(lid, cmd); !errors.Is(err, billing.ErrForbidden) && !errors.Is(err, billing.ErrNotFound) && !errors.Is(err, billing.ErrInvalid) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	bn.intact(quoted.ID)
	after, err := owner.Account(ctx, "me")
	if err != nil {
		t.Fatal(err)
	}
	if after.Balance != before.Balance || after.Files != before.Files {
		t.Fatalf("the account changed: %+v, was %+v", after, before)
	}
	if g, err := owner.File(ctx, f.ID); err != nil || g.State == "deleted" || len(g.Additional) != 0 {
		t.Fatalf("the account's file: %+v %v", g, err)
	}
	if o, err := st.HeadObject(ctx, acc.ID, "victims", "k"); err != nil || o.ETag != obj.ETag {
		t.Fatalf("the account's object: %+v %v, was %+v", o, err, obj)
	}
	if g, err := owner.File(ctx, objID); err != nil || g.State == "deleted" {
		t.Fatalf("the object's file: %+v %v", g, err)
	}
}
