package outbox

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Defaults and hard limits.
const (
	// DefaultMaxEntries is the entry limit when Config.MaxEntries is 0.
	DefaultMaxEntries = 100_000
	// DefaultMaxBytes is the byte limit when Config.MaxBytes is 0.
	DefaultMaxBytes = 32 << 20
	// DefaultMaxEntryBytes is the payload limit when Config.MaxEntryBytes is 0.
	DefaultMaxEntryBytes = 64 << 10
	// DefaultSegmentBytes is the segment size when Config.SegmentBytes is 0.
	DefaultSegmentBytes = 4 << 20
	// MaxTopicBytes is the longest topic an entry may carry (the MQTT limit).
	MaxTopicBytes = 65535
	// HardMaxEntryBytes bounds Config.MaxEntryBytes: an MQTT packet cannot be
	// larger than 256 MiB.
	HardMaxEntryBytes = 256 << 20
)

// Errors returned by the outbox. They are sentinels for errors.Is.
var (
	// ErrOutboxFull is returned by Append when the entry would exceed
	// Config.MaxEntries or Config.MaxBytes. Nothing is dropped to make room:
	// the caller decides (retry after PUBACKs drain the outbox, alarm, or
	// keep the reading elsewhere).
	ErrOutboxFull = errors.New("outbox: full")
	// ErrTooLarge is returned by Append for a payload above
	// Config.MaxEntryBytes.
	ErrTooLarge = errors.New("outbox: entry too large")
	// ErrInvalidTopic is returned by Append for an empty topic, one longer
	// than MaxTopicBytes, or one holding MQTT wildcards or NUL.
	ErrInvalidTopic = errors.New("outbox: invalid topic")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("outbox: closed")
	// ErrUnknownID is returned by Ack for an ID that is not in the outbox
	// (already acknowledged, or never issued).
	ErrUnknownID = errors.New("outbox: unknown entry")
	// ErrLocked is returned by Open when another Outbox (in this or another
	// process) has the directory open.
	ErrLocked = errors.New("outbox: directory in use")
)

// Config configures an Outbox. The zero value is usable: every zero field
// takes the default named beside it. Config is copied by Open; changing it
// afterwards has no effect.
type Config struct {
	// MaxEntries bounds the number of unacknowledged entries
	// (DefaultMaxEntries when 0).
	MaxEntries int
	// MaxBytes bounds the total topic and payload bytes of unacknowledged
	// entries (DefaultMaxBytes when 0). Entries are held in memory as well
	// as on disk, so this is also the outbox's memory bound. Disk use is at
	// most about twice MaxBytes plus two segments.
	MaxBytes int64
	// MaxEntryBytes bounds one payload (DefaultMaxEntryBytes when 0; at most
	// HardMaxEntryBytes). AWS IoT Core accepts at most 128 KiB.
	MaxEntryBytes int
	// SegmentBytes is the size at which the outbox starts a new segment
	// file (DefaultSegmentBytes when 0).
	SegmentBytes int64
	// Logger receives recovery reports (quarantined bytes, never payloads).
	// Nil discards them.
	Logger *slog.Logger
	// UnsafeNoSync skips fsync. An entry acknowledged by Append can then
	// be lost on power loss or kernel crash (not on a process crash). Meant
	// only for benchmarks and simulators; never set it on a device.
	UnsafeNoSync bool
}

// ID identifies an entry within one outbox directory. IDs increase with
// every Append.
type ID uint64

// Entry is one queued message.
type Entry struct {
	ID      ID
	Topic   string
	Payload []byte
}

// Quarantine describes bytes found torn or corrupt at Open and moved aside.
// They are copied to File and removed from the segment, so they are reported
// once and never retried.
type Quarantine struct {
	// Segment is the segment file name the bytes came from.
	Segment string
	// Offset and Length locate the bytes in the segment.
	Offset, Length int64
	// File is the path of the copy in the quarantine directory.
	File string
	// Reason is "torn" (a write cut short at the end of a segment, as by
	// power loss) or "corrupt" (bytes that fail the checksum or framing).
	Reason string
}

// Stats is a snapshot of an outbox's counters.
type Stats struct {
	// Entries and Bytes are the unacknowledged entries and their size.
	Entries int
	Bytes   int64
	// Claimed is the number of entries currently claimed (in flight).
	Claimed int
	// Segments is the number of segment files.
	Segments int
	// Appended and Acked count entries since Open.
	Appended, Acked uint64
	// Quarantined counts the regions quarantined at Open.
	Quarantined int
}

type segment struct {
	seq  uint64
	path string
	size int64
	live int // entries whose current copy is in this segment
}

type entry struct {
	id      ID
	topic   string
	payload []byte
	seg     *segment
	claimed bool
}

// Outbox is a durable, bounded FIFO of MQTT messages kept until the broker
// acknowledges them. All methods are safe for concurrent use.
type Outbox struct {
	cfg  Config
	dir  string
	log  *slog.Logger
	lock io.Closer

	mu       sync.Mutex
	cond     *sync.Cond // signals sync completion
	closed   bool
	file     *os.File // active segment
	active   *segment
	segments []*segment // oldest first; the last is active
	entries  map[ID]*entry
	pending  idHeap // unclaimed entry IDs, smallest first
	bytes    int64
	claimed  int
	nextID   ID
	nextSeg  uint64
	buf      []byte

	written, synced uint64 // write generations, for group commit
	syncing         bool
	syncErr         error

	appended, acked uint64
	quarantine      []Quarantine
	notify          chan struct{}
}

// Open opens (creating if needed) the outbox in dir, recovering every entry
// a previous process left unacknowledged. Torn or corrupt records are copied
// to dir/quarantine, cut out of their segment and reported by
// [Outbox.Quarantined]; recovery never fails on them. Open fails with
// [ErrLocked] if the directory is already open.
func Open(dir string, cfg Config) (*Outbox, error) {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxEntryBytes <= 0 {
		cfg.MaxEntryBytes = DefaultMaxEntryBytes
	}
	if cfg.MaxEntryBytes > HardMaxEntryBytes {
		return nil, fmt.Errorf("outbox: MaxEntryBytes above %d", HardMaxEntryBytes)
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = DefaultSegmentBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	lk, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	o := &Outbox{
		cfg: cfg, dir: dir, log: log, lock: lk,
		entries: make(map[ID]*entry),
		nextID:  1,
		notify:  make(chan struct{}, 1),
	}
	o.cond = sync.NewCond(&o.mu)
	if err := o.recover(); err != nil {
		lk.Close()
		return nil, err
	}
	for id := range o.entries {
		o.pending = append(o.pending, id)
	}
	heap.Init(&o.pending)
	if err := o.openSegment(); err != nil {
		lk.Close()
		return nil, err
	}
	o.dropAckedPrefix()
	if len(o.pending) > 0 {
		o.signal()
	}
	return o, nil
}

func (o *Outbox) maxRecord() int { return 1 + 8 + 2 + MaxTopicBytes + o.cfg.MaxEntryBytes }

func segName(seq uint64) string { return fmt.Sprintf("%016x.seg", seq) }

// recover reads every segment in order and rebuilds the in-memory state.
func (o *Outbox) recover() error {
	names, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	var seqs []uint64
	for _, de := range names {
		n := de.Name()
		if !de.Type().IsRegular() || !strings.HasSuffix(n, ".seg") || len(n) != 20 {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(n, ".seg"), 16, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		if err := o.recoverSegment(seq); err != nil {
			return err
		}
		o.nextSeg = seq + 1
	}
	if o.nextSeg == 0 {
		o.nextSeg = 1
	}
	return nil
}

func (o *Outbox) recoverSegment(seq uint64) error {
	path := filepath.Join(o.dir, segName(seq))
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("outbox: read segment: %w", err)
	}
	seg := &segment{seq: seq, path: path}
	o.segments = append(o.segments, seg)
	var kept []byte // valid records, if the segment needs rewriting
	damaged := false
	for off := 0; off < len(b); {
		r, n, err := decodeRecord(b[off:], o.maxRecord())
		if err != nil {
			end := len(b)
			reason := "torn"
			if errors.Is(err, errCorrupt) {
				end = off + resync(b[off:], o.maxRecord())
				reason = "corrupt"
			}
			if !damaged {
				kept = append(kept, b[:off]...)
				damaged = true
			}
			if qerr := o.quarantineBytes(seg, int64(off), b[off:end], reason); qerr != nil {
				return qerr
			}
			off = end
			continue
		}
		if damaged {
			kept = append(kept, b[off:off+n]...)
		}
		off += n
		o.apply(r, seg)
	}
	seg.size = int64(len(b))
	if damaged {
		seg.size = int64(len(kept))
		if err := o.rewrite(path, kept); err != nil {
			return err
		}
	}
	return nil
}

// apply replays one record during recovery.
func (o *Outbox) apply(r record, seg *segment) {
	if ID(r.id) >= o.nextID {
		o.nextID = ID(r.id) + 1
	}
	switch r.typ {
	case recEntry:
		if e, ok := o.entries[ID(r.id)]; ok { // copied forward by compaction
			e.seg.live--
			e.seg = seg
			seg.live++
			return
		}
		o.entries[ID(r.id)] = &entry{id: ID(r.id), topic: r.topic, payload: r.payload, seg: seg}
		o.bytes += int64(len(r.topic) + len(r.payload))
		seg.live++
	case recAck:
		if e, ok := o.entries[ID(r.id)]; ok {
			e.seg.live--
			o.bytes -= int64(len(e.topic) + len(e.payload))
			delete(o.entries, ID(r.id))
		}
	}
}

func (o *Outbox) quarantineBytes(seg *segment, off int64, b []byte, reason string) error {
	qdir := filepath.Join(o.dir, "quarantine")
	if err := os.MkdirAll(qdir, 0o700); err != nil {
		return fmt.Errorf("outbox: quarantine: %w", err)
	}
	name := fmt.Sprintf("%s-%012x.%s", strings.TrimSuffix(filepath.Base(seg.path), ".seg"), off, reason)
	path := filepath.Join(qdir, name)
	if err := o.writeFileSync(path, b); err != nil {
		return fmt.Errorf("outbox: quarantine: %w", err)
	}
	q := Quarantine{Segment: filepath.Base(seg.path), Offset: off, Length: int64(len(b)), File: path, Reason: reason}
	o.quarantine = append(o.quarantine, q)
	o.log.Warn("outbox: quarantined damaged bytes", "segment", q.Segment, "offset", q.Offset, "length", q.Length, "reason", reason)
	return nil
}

// rewrite atomically replaces path with b (temp file, fsync, rename, fsync dir).
func (o *Outbox) rewrite(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := o.writeFileSync(tmp, b); err != nil {
		return fmt.Errorf("outbox: rewrite segment: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("outbox: rewrite segment: %w", err)
	}
	return o.syncDir()
}

func (o *Outbox) writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if !o.cfg.UnsafeNoSync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func (o *Outbox) syncDir() error {
	if o.cfg.UnsafeNoSync {
		return nil
	}
	d, err := os.Open(o.dir)
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("outbox: sync directory: %w", err)
	}
	return nil
}

// openSegment starts a new active segment. Caller holds o.mu (or is Open).
func (o *Outbox) openSegment() error {
	seq := o.nextSeg
	path := filepath.Join(o.dir, segName(seq))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("outbox: new segment: %w", err)
	}
	if err := o.syncDir(); err != nil {
		f.Close()
		return err
	}
	o.nextSeg++
	o.file = f
	o.active = &segment{seq: seq, path: path}
	o.segments = append(o.segments, o.active)
	return nil
}

// Append adds an entry and returns once it is on stable storage (written and
// fsynced, together with any concurrent appends). It fails with
// [ErrOutboxFull] when the outbox is at its limits, [ErrTooLarge] or
// [ErrInvalidTopic] for bad input, and [ErrClosed] after Close. ctx is checked
// before the write; a started write always runs to completion.
func (o *Outbox) Append(ctx context.Context, topic string, payload []byte) (ID, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !validTopic(topic) {
		return 0, ErrInvalidTopic
	}
	if len(payload) > o.cfg.MaxEntryBytes {
		return 0, ErrTooLarge
	}
	size := int64(len(topic) + len(payload))
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrClosed
	}
	if len(o.entries) >= o.cfg.MaxEntries || o.bytes+size > o.cfg.MaxBytes {
		return 0, ErrOutboxFull
	}
	if o.active.size >= o.cfg.SegmentBytes {
		if err := o.rotate(); err != nil {
			return 0, err
		}
	}
	id := o.nextID
	o.buf = appendEntry(o.buf[:0], uint64(id), topic, payload)
	if err := o.write(o.buf); err != nil {
		return 0, err
	}
	o.nextID++
	e := &entry{id: id, topic: topic, payload: append([]byte(nil), payload...), seg: o.active}
	o.active.live++
	o.entries[id] = e
	o.bytes += size
	o.appended++
	if err := o.waitSynced(o.written); err != nil {
		// The record is written but its durability is unknown. Keep it
		// (it may still be published) but report the failure.
		heap.Push(&o.pending, id)
		o.signal()
		return 0, err
	}
	heap.Push(&o.pending, id)
	o.signal()
	return id, nil
}

// write appends b to the active segment. Caller holds o.mu.
func (o *Outbox) write(b []byte) error {
	if _, err := o.file.Write(b); err != nil {
		return fmt.Errorf("outbox: write: %w", err)
	}
	o.active.size += int64(len(b))
	o.written++
	return nil
}

// waitSynced returns once generation gen is fsynced. One caller at a time
// runs fsync for everything written so far (group commit); the others wait.
// Caller holds o.mu.
func (o *Outbox) waitSynced(gen uint64) error {
	if o.cfg.UnsafeNoSync {
		o.synced = o.written
		return nil
	}
	for o.synced < gen {
		if o.syncing {
			o.cond.Wait()
			continue
		}
		o.syncing = true
		target, f := o.written, o.file
		o.mu.Unlock()
		err := f.Sync()
		o.mu.Lock()
		o.syncing = false
		if err != nil {
			o.syncErr = fmt.Errorf("outbox: fsync: %w", err)
			o.cond.Broadcast()
			return o.syncErr
		}
		if target > o.synced {
			o.synced = target
		}
		o.cond.Broadcast()
	}
	return nil
}

// rotate closes the active segment and opens a new one, compacting the
// oldest segment if the directory has grown past its bound. Caller holds o.mu.
func (o *Outbox) rotate() error {
	for o.syncing {
		o.cond.Wait()
	}
	if !o.cfg.UnsafeNoSync {
		if err := o.file.Sync(); err != nil {
			return fmt.Errorf("outbox: fsync: %w", err)
		}
	}
	o.synced = o.written
	if err := o.file.Close(); err != nil {
		return fmt.Errorf("outbox: close segment: %w", err)
	}
	if err := o.openSegment(); err != nil {
		return err
	}
	return o.compact()
}

// maxSegments is the number of segments beyond which compaction copies the
// oldest segment's live entries forward.
func (o *Outbox) maxSegments() int {
	return int(2*o.cfg.MaxBytes/o.cfg.SegmentBytes) + 2
}

// compact copies live entries out of the oldest segments while there are too
// many, so that one unacknowledged entry cannot pin unbounded disk space.
// Caller holds o.mu.
func (o *Outbox) compact() error {
	for len(o.segments) > o.maxSegments() {
		old := o.segments[0]
		var moved []*entry
		for _, e := range o.entries {
			if e.seg == old {
				moved = append(moved, e)
			}
		}
		sort.Slice(moved, func(i, j int) bool { return moved[i].id < moved[j].id })
		for _, e := range moved {
			o.buf = appendEntry(o.buf[:0], uint64(e.id), e.topic, e.payload)
			if err := o.write(o.buf); err != nil {
				return err
			}
			old.live--
			e.seg = o.active
			o.active.live++
		}
		if err := o.waitSynced(o.written); err != nil {
			return err
		}
		o.dropAckedPrefix()
	}
	return nil
}

// dropAckedPrefix deletes the oldest segments while they hold no live entry.
// Segments are deleted only in order, so an acknowledgement record is never
// deleted before the entry it cancels. Caller holds o.mu.
func (o *Outbox) dropAckedPrefix() {
	for len(o.segments) > 1 && o.segments[0].live == 0 {
		if err := os.Remove(o.segments[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			o.log.Warn("outbox: remove segment", "segment", filepath.Base(o.segments[0].path), "err", err)
			return
		}
		o.segments = o.segments[1:]
	}
}

// Claim marks up to max pending entries, oldest first, as in flight and
// returns them. Claimed entries are not returned again until released with
// [Outbox.Release]; they stay in the outbox until [Outbox.Ack].
func (o *Outbox) Claim(max int) []Entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Entry
	for len(out) < max && len(o.pending) > 0 {
		id := heap.Pop(&o.pending).(ID)
		e, ok := o.entries[id]
		if !ok || e.claimed {
			continue
		}
		e.claimed = true
		o.claimed++
		out = append(out, Entry{ID: e.id, Topic: e.topic, Payload: e.payload})
	}
	return out
}

// Release returns claimed entries to the pending queue, in ID order, for
// another attempt. Unknown or unclaimed IDs are ignored.
func (o *Outbox) Release(ids ...ID) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, id := range ids {
		if e, ok := o.entries[id]; ok && e.claimed {
			e.claimed = false
			o.claimed--
			heap.Push(&o.pending, id)
			n++
		}
	}
	if n > 0 {
		o.signal()
	}
}

// ReleaseAll returns every claimed entry to the pending queue, as after a
// lost connection.
func (o *Outbox) ReleaseAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for id, e := range o.entries {
		if e.claimed {
			e.claimed = false
			heap.Push(&o.pending, id)
		}
	}
	o.claimed = 0
	o.signal()
}

// Ack removes an entry: the broker acknowledged it. The removal is written
// without fsync; if it is lost in a crash the entry is published again, which
// the idempotent ingest absorbs. It fails with [ErrUnknownID] for an ID that
// is not in the outbox.
func (o *Outbox) Ack(id ID) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	e, ok := o.entries[id]
	if !ok {
		return ErrUnknownID
	}
	o.buf = appendAck(o.buf[:0], uint64(id))
	if err := o.write(o.buf); err != nil {
		return err
	}
	if e.claimed {
		o.claimed--
	}
	delete(o.entries, id)
	o.bytes -= int64(len(e.topic) + len(e.payload))
	e.seg.live--
	o.acked++
	o.dropAckedPrefix()
	return nil
}

// Ready returns a channel that receives a value when entries may have become
// available to Claim. It has a buffer of one; use it as a wake-up, then Claim.
func (o *Outbox) Ready() <-chan struct{} { return o.notify }

func (o *Outbox) signal() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// Quarantined returns what Open moved aside as torn or corrupt.
func (o *Outbox) Quarantined() []Quarantine {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]Quarantine(nil), o.quarantine...)
}

// Stats returns a snapshot of the counters.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return Stats{
		Entries: len(o.entries), Bytes: o.bytes, Claimed: o.claimed,
		Segments: len(o.segments), Appended: o.appended, Acked: o.acked,
		Quarantined: len(o.quarantine),
	}
}

// Close syncs and closes the outbox. Unacknowledged entries stay on disk for
// the next Open. Close is idempotent.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	for o.syncing {
		o.cond.Wait()
	}
	o.closed = true
	var errs []error
	if !o.cfg.UnsafeNoSync {
		if err := o.file.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("outbox: fsync: %w", err))
		}
	}
	o.synced = o.written
	o.cond.Broadcast()
	errs = append(errs, o.file.Close())
	if o.active.size == 0 && len(o.segments) > 0 && o.segments[len(o.segments)-1] == o.active {
		_ = os.Remove(o.active.path)
	}
	errs = append(errs, o.lock.Close())
	return errors.Join(errs...)
}

func validTopic(t string) bool {
	if t == "" || len(t) > MaxTopicBytes {
		return false
	}
	return !strings.ContainsAny(t, "+#\x00")
}

// idHeap is a min-heap of IDs.
type idHeap []ID

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(ID)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
