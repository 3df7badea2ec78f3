// oneclaimcheck: an independent check of OneClaim's audit bundles and proofs, written from the
// bundle's README and built on Go's golang.org/x/mod/sumdb/note (signed notes) and sumdb/tlog
// (RFC 6962 hashes and proofs), as Debian ships them (golang-golang-x-mod-dev). It shares no
// code with OneClaim. It checks the cryptography only: signatures by the key given, the origin,
// every leaf, the hash chain, the root at every checkpoint, and that the last checkpoint covers
// every event. Canonical bytes and the manifest are left to OneClaim's own verifiers.
//
//	oneclaimcheck bundle -key VKEY -origin ORIGIN DIR   one JSON verdict on stdout; exit 1 if refused
//	oneclaimcheck proofs < LINES                        one verdict per JSON proof line on stdin
//	oneclaimcheck tiles -key VKEY -origin ORIGIN [-token T] URL N… the checkpoint at URL/checkpoint, the whole
//	                                                    tree through tlog's tile reader, and entries N…
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
	"io"
	"net/http"
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
	for next < len(signed) && signed[next].size == 0 { // the empty tree's root is SHA-256 of nothing
		if signed[next].root != tlog.Hash(sha256.Sum256(nil)) {
			return verdict{Error: "the checkpoint of size 0 is not the empty tree's root"}
		}
		next++
	}
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

// c2spTiles reads C2SP tlog-tiles over HTTP for tlog's tile hash reader: C2SP paths carry no
// height (tile/<L>/<N>[.p/<W>]), where x/mod's own Tile.Path writes tile/<H>/<L>/....
type c2spTiles struct{ url string }

func (c2spTiles) Height() int { return 8 }

func (c2spTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func indexPath(n int64) string {
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append([]string{fmt.Sprintf("x%03d", n%1000)}, groups...)
	}
	return strings.Join(groups, "/")
}

func tilePath(level string, n int64, w int) string {
	p := fmt.Sprintf("tile/%s/%s", level, indexPath(n))
	if w != 256 {
		p += fmt.Sprintf(".p/%d", w)
	}
	return p
}

var bearer string // -token: an entry bundle needs a token (events name retirements' beneficiaries)

func get(url string) ([]byte, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != 200 {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}

func (c c2spTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	var out [][]byte
	for _, t := range tiles {
		data, err := get(c.url + "/" + tilePath(strconv.Itoa(t.L), t.N, t.W))
		if err != nil {
			return nil, err
		}
		out = append(out, data)
	}
	return out, nil
}

type tilesVerdict struct {
	OK      bool   `json:"ok"`
	Size    int64  `json:"size"`
	Root    string `json:"root,omitempty"`
	Entries int    `json:"entries_checked"`
	Error   string `json:"error,omitempty"`
}

func checkTiles(url, vkey, origin string, entries []int64) tilesVerdict {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return tilesVerdict{Error: err.Error()}
	}
	raw, err := get(url + "/checkpoint")
	if err != nil {
		return tilesVerdict{Error: err.Error()}
	}
	n, err := note.Open(raw, note.VerifierList(verifier))
	if err != nil {
		return tilesVerdict{Error: "checkpoint: " + err.Error()}
	}
	body := strings.Split(n.Text, "\n")
	size, _ := strconv.ParseInt(body[1], 10, 64)
	root, err := hash64(body[2])
	if err != nil || body[0] != origin {
		return tilesVerdict{Error: "checkpoint body"}
	}
	reader := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, c2spTiles{url})
	got, err := tlog.TreeHash(size, reader)
	if err != nil || got != root {
		return tilesVerdict{Size: size, Error: fmt.Sprintf("tree hash from the tiles: %v", err)}
	}
	checked := 0
	for _, i := range entries {
		w := 256
		if (i/256+1)*256 > size {
			w = int(size % 256)
		}
		bundle, err := get(url + "/" + tilePath("entries", i/256, w))
		if err != nil {
			return tilesVerdict{Size: size, Error: err.Error()}
		}
		var entry []byte
		for k := int64(0); k <= i%256; k++ {
			if len(bundle) < 2 {
				return tilesVerdict{Size: size, Error: "entry bundle too short"}
			}
			length := int(bundle[0])<<8 | int(bundle[1])
			if len(bundle) < 2+length {
				return tilesVerdict{Size: size, Error: "entry bundle too short"}
			}
			entry, bundle = bundle[2:2+length], bundle[2+length:]
		}
		proof, err := tlog.ProveRecord(size, i, reader)
		if err == nil {
			err = tlog.CheckRecord(proof, size, root, i, tlog.RecordHash(entry))
		}
		if err != nil {
			return tilesVerdict{Size: size, Error: fmt.Sprintf("entry %d: %v", i, err)}
		}
		checked++
	}
	return tilesVerdict{OK: true, Size: size, Root: body[2], Entries: checked}
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
	case "tiles":
		flags := flag.NewFlagSet("tiles", flag.ExitOnError)
		key := flags.String("key", "", "the trusted verifier key")
		origin := flags.String("origin", "", "the log's origin")
		token := flags.String("token", "", "a bearer token for the entry bundles")
		flags.Parse(os.Args[2:])
		bearer = *token
		var entries []int64
		for _, a := range flags.Args()[1:] {
			i, _ := strconv.ParseInt(a, 10, 64)
			entries = append(entries, i)
		}
		v := checkTiles(strings.TrimRight(flags.Arg(0), "/"), *key, *origin, entries)
		out, _ := json.Marshal(v)
		fmt.Println(string(out))
		if !v.OK {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", os.Args[1])
		os.Exit(2)
	}
}
