// oneclaimcheck: an independent check of OneClaim's audit bundles and proofs, written from the
// bundle's README and built on Go's golang.org/x/mod/sumdb/note (signed notes) and sumdb/tlog
// (RFC 6962 hashes and proofs), as Debian ships them (golang-golang-x-mod-dev). It shares no
// code with OneClaim. It checks the cryptography only: signatures by the key given, the origin,
// every leaf, the hash chain, the root at every checkpoint, and that the last checkpoint covers
// every event. Canonical bytes and the manifest are left to OneClaim's own verifiers.
//
//	oneclaimcheck bundle -key VKEY -origin ORIGIN DIR   one JSON verdict on stdout; exit 1 if refused
//	oneclaimcheck proofs < LINES                        one verdict per JSON proof line on stdin
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type verdict struct {
	OK     bool   `json:"ok"`
	Events int64  `json:"events"`
	Root   string `json:"root,omitempty"`
	Error  string `json:"error,omitempty"`
}

type line struct {
	Chain string          `json:"chain"`
	Event json.RawMessage `json:"event"`
	Leaf  string          `json:"leaf"`
	Seq   int64           `json:"seq"`
}

type checkpoint struct {
	size int64
	root tlog.Hash
}

func checkpoints(dir, vkey, origin string) ([]checkpoint, error) {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("bad key: %v", err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "*.note"))
	var out []checkpoint
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		n, err := note.Open(data, note.VerifierList(verifier))
		if err != nil {
			return nil, fmt.Errorf("%s: %v", filepath.Base(name), err)
		}
		body := strings.Split(n.Text, "\n")
		if len(body) < 4 || body[0] != origin {
			return nil, fmt.Errorf("%s: origin %q is not %q", filepath.Base(name), body[0], origin)
		}
		size, err := strconv.ParseInt(body[1], 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("%s: bad size %q", filepath.Base(name), body[1])
		}
		raw, err := base64.StdEncoding.DecodeString(body[2])
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("%s: bad root %q", filepath.Base(name), body[2])
		}
		var root tlog.Hash
		copy(root[:], raw)
		out = append(out, checkpoint{size, root})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].size < out[j].size })
	return out, nil
}

func checkBundle(dir, vkey, origin string) verdict {
	signed, err := checkpoints(dir, vkey, origin)
	if err != nil {
		return verdict{Error: err.Error()}
	}
	if len(signed) == 0 || signed[len(signed)-1].size == 0 {
		return verdict{Error: "no signed non-empty checkpoint"}
	}
	f, err := os.Open(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		return verdict{Error: err.Error()}
	}
	defer f.Close()
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("hash %d not stored", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	chain, n, next := make([]byte, 32), int64(0), 0
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<26)
	for scanner.Scan() {
		var l line
		if err := json.Unmarshal(scanner.Bytes(), &l); err != nil {
			return verdict{Events: n, Error: fmt.Sprintf("line %d: %v", n+1, err)}
		}
		if l.Seq != n {
			return verdict{Events: n, Error: fmt.Sprintf("line %d has seq %d", n+1, l.Seq)}
		}
		leaf := tlog.RecordHash(l.Event)
		if l.Leaf != hex.EncodeToString(leaf[:]) {
			return verdict{Events: n, Error: fmt.Sprintf("seq %d: leaf is not the hash of the event", n)}
		}
		sum := sha256.Sum256(append(append([]byte{}, chain...), leaf[:]...))
		chain = sum[:]
		if l.Chain != hex.EncodeToString(chain) {
			return verdict{Events: n, Error: fmt.Sprintf("seq %d: chain hash does not follow", n)}
		}
		more, err := tlog.StoredHashesForRecordHash(n, leaf, reader)
		if err != nil {
			return verdict{Events: n, Error: err.Error()}
		}
		stored = append(stored, more...)
		n++
		for next < len(signed) && signed[next].size == n {
			root, err := tlog.TreeHash(n, reader)
			if err != nil || root != signed[next].root {
				return verdict{Events: n, Error: fmt.Sprintf("root at size %d is not the signed one", n)}
			}
			next++
		}
	}
	if err := scanner.Err(); err != nil {
		return verdict{Events: n, Error: err.Error()}
	}
	if next < len(signed) {
		return verdict{Events: n, Error: fmt.Sprintf("a checkpoint of size %d, but %d events", signed[next].size, n)}
	}
	last := signed[len(signed)-1]
	if last.size != n {
		return verdict{Events: n, Error: fmt.Sprintf("%d events, the last checkpoint covers %d", n, last.size)}
	}
	return verdict{OK: true, Events: n, Root: base64.StdEncoding.EncodeToString(last.root[:])}
}

// A proof line: the JSON `oneclaim log prove-inclusion` or `prove-consistency` prints.
type proof struct {
	LeafIndex int64    `json:"leaf_index"`
	TreeSize  int64    `json:"tree_size"`
	LeafHash  string   `json:"leaf_hash"`
	RootHash  string   `json:"root_hash"`
	OldSize   int64    `json:"old_size"`
	NewSize   int64    `json:"new_size"`
	OldRoot   string   `json:"old_root"`
	NewRoot   string   `json:"new_root"`
	Hashes    []string `json:"hashes"`
}

func hash64(s string) (tlog.Hash, error) {
	var h tlog.Hash
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) != tlog.HashSize {
		return h, fmt.Errorf("bad hash %q", s)
	}
	copy(h[:], raw)
	return h, nil
}

func checkProof(text []byte) error {
	var p proof
	if err := json.Unmarshal(text, &p); err != nil {
		return err
	}
	var path []tlog.Hash
	for _, s := range p.Hashes {
		h, err := hash64(s)
		if err != nil {
			return err
		}
		path = append(path, h)
	}
	if p.NewSize > 0 { // consistency
		old, err1 := hash64(p.OldRoot)
		new, err2 := hash64(p.NewRoot)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("bad roots")
		}
		return tlog.CheckTree(tlog.TreeProof(path), p.NewSize, new, p.OldSize, old)
	}
	leaf, err1 := hash64(p.LeafHash)
	root, err2 := hash64(p.RootHash)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("bad hashes")
	}
	return tlog.CheckRecord(tlog.RecordProof(path), p.TreeSize, root, p.LeafIndex, leaf)
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oneclaimcheck bundle -key VKEY -origin ORIGIN DIR | oneclaimcheck proofs")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "bundle":
		flags := flag.NewFlagSet("bundle", flag.ExitOnError)
		key := flags.String("key", "", "the trusted verifier key")
		origin := flags.String("origin", "", "the log's origin")
		flags.Parse(os.Args[2:])
		v := checkBundle(flags.Arg(0), *key, *origin)
		out, _ := json.Marshal(v)
		fmt.Println(string(out))
		if !v.OK {
			os.Exit(1)
		}
	case "proofs":
		scanner := bufio.NewScanner(os.Stdin)
		scanner.Buffer(make([]byte, 1<<20), 1<<24)
		for scanner.Scan() {
			if len(bytes.TrimSpace(scanner.Bytes())) == 0 {
				continue
			}
			if err := checkProof(scanner.Bytes()); err != nil {
				fmt.Println("fail:", err)
			} else {
				fmt.Println("ok")
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
