package bench

// profileNotes records what the CPU profiles showed while this suite was
// built, and what was changed in the product because of them. The profiles
// of the current code are printed with each part above.
const profileNotes = `### Catch-up (part 1)

1. **Quadratic inserts.** The first profile (a fresh journal catching up on 100,000 transitions) had 77% of
   the CPU in ` + "`runtime.memmove`" + ` under bbolt's ` + "`node.put`" + `. bbolt inserts into an in-memory node by
   shifting the keys after the insertion point and splits nodes only when the transaction commits. The
   blog-index keys (blog, created, seq) of a batch arrive in binlog order, which is random by blog, and a
   fresh journal's index is a single node: a batch cost time quadratic in its size (one run took 20 s for
   100,000 transitions the bare decoder read in 0.1 s). The monitors, written from a Go map, had the same
   problem. **Done:** ` + "`journal.Commit`" + ` writes each bucket in key order; the follower hands over its
   monitors sorted by site.
2. **Commits stopped decoding, and the map was remapped.** At 1,000,000 transitions the commits took half
   the CPU on the goroutine that applies events, so decoding waited for every commit; inside them bbolt
   re-mapped the growing file several times, each time copying every node the transaction had touched onto
   the heap (` + "`node.dereference`" + `). **Done:** read-write journals reserve 1 GiB of address space up front
   (` + "`InitialMmapSize`" + `, virtual only); the follower commits a batch in the background while the next one
   fills (two buffers, at most one commit running, every exit path waits for it); the batch's sort orders
   are computed on the applier's side (` + "`Batch.Prepare`" + `); row changes are held by value instead of one
   allocation per row; keys are built in a reused buffer and values come from one arena.
   Measured on this machine at 1,000,000 transitions, before and after these two steps: about 4.0 s ->
   2.7 s for the bulk stretch (bare decoder about 0.9 s), about 1.45 s -> 1.3 s for 200,000 single-row
   transactions.
3. **What remains** (the profile printed in part 1): the committing goroutine is the critical path. bbolt's
   ` + "`Bucket.Put`" + ` costs about 0.5 us (a cursor seek from the root, allocations for the cursor, its stack and
   the key copy, and a shift within the leaf) and runs twice per event plus once per changed monitor per
   batch; ` + "`Tx.Commit`" + ` then spills and writes every page the batch touched, and a batch of random blogs
   touches nearly all of the blog index. go-mysql's decoding (the bare decoder's whole cost, about a quarter
   of the bridge's CPU) and the garbage collector (mostly go-mysql's per-row allocations and bbolt's nodes)
   share the other CPU. **Not done:** a custom ` + "`RowsEventDecodeFunc`" + ` for the one table would avoid
   go-mysql's per-value boxing and skip other tables' rows on a shared replica, but it re-implements
   go-mysql's row parser for every column type and server flavor, which is not a focused fix; one bbolt put
   per event instead of two would change journal format 1, which the operator tools read; a higher GOGC is
   a process-wide choice for the daemon's main package, not for the follower.

The live path did not suffer: a live change is still committed as soon as the stream is idle, and the
lag figures of part 2 were taken with these changes.

### /events (part 3)

The journal server's profile (printed in part 3) is dominated by net/http and its system calls (reading
requests, writing answers: about a quarter of the samples are in ` + "`Syscall6`" + `). ` + "`Journal.BlogEvents`" + ` is about a
fifth, nearly all of it bbolt's cursor seek down a four-level tree (including bbolt's page checks,
` + "`IsBranchPage`" + `) over a 10-million-event index that does not fit the CPU caches; the hand-written JSON encoder
a few percent (the micro-benchmark shows it at about a tenth of encoding/json's time, with no allocation).
Nothing was changed there: a seek per request is the index doing its job, and the rest is the HTTP stack
in server/, other work in progress. The synthesis path's cost is MariaDB's: its CPU per request is in the
table of part 3, and it is what makes the v1 path 6-8 times as expensive per request.
`

// undone lists what the suite does not cover, or covers only in part.
const undone = `- **Catch-up goal missed** (see part 1): the bridge is bound by bbolt's per-key cost in the committing
  goroutine; the remaining levers are listed under Profiles.
- **Bytes per event goal missed on file size** (part 4): the pages in use come to about 100 bytes per
  event, a compacted copy to about 80, but the blog index's leaves stay about two-thirds full (bbolt
  splits a full leaf in half, and the index grows at 100,000 insertion points at once), and a journal
  that went through large commits keeps their freed pages. Going lower needs a format change (a shorter
  blog-index key, or one bbolt key per event) or periodic ` + "`journal compact`" + `.
- **/events throughput ratio** (part 3): on this 2-CPU machine the load generator takes CPU from both
  servers, which caps the measurable ratio near 5x; the CPU cost per request, which the generator does
  not affect, is the sturdier comparison.
- **Catch-up memory**: during the bulk stretch the follower's live heap reaches a few hundred MiB. Cutting
  the follower's event buffer from 4,096 to 256 decoded events did not lower the peak (measured: 344 MiB
  with 256), so the bulk of it is the two batches (up to 2^19 events each, with their monitor rows) and
  bbolt's in-memory copies of the index pages a catch-up commit rewrites, which grow with the events per
  commit. A smaller batch cap would trade catch-up speed for memory; not changed here.
- The /events server of part 3 is ` + "`jetmon-bench serve`" + `, which wires the same packages as the daemon
  (` + "`server.New`" + `, ` + "`server.History`" + `, ` + "`journal`" + `, ` + "`store`" + `) but runs no follower, supervisor, metrics or JSON-RPC:
  the daemon's RSS would be a little higher (a caught-up follower holds no batch). The real binary is used
  by the e2e tests, not here.
- Live lag (part 2) is measured in process, from the commit returning to ` + "`journal.BlogEvents`" + ` showing the
  event; the HTTP hop adds the /events latency of part 3.
- Only MariaDB 10.11 is measured; production replicas run MySQL 8, whose binlog (and ` + "`binlog_row_metadata`" + `)
  differ in detail.
- The simulator's flaps are back-to-back statements (milliseconds apart), always shorter than one poll;
  flaps of 5-10 s would be caught by polling slightly more often. Failure windows are taken from the
  ground truth, and the adapter asks about each as soon as it closes, the most favourable moment for
  synthesis.
- The machine is shared with other work; each part runs once per ` + "`make bench`" + ` (three interleaved rounds
  in part 1), so small differences between runs are noise.
`
