# Batch decode: one nogil pass over a buffer of frames, rows copied into growing C buffers.
# Declares nothing that other parts use, so its types stay here.

from libc.stdlib cimport malloc
from libc.string cimport memchr

cdef extern from "memory.h" nogil:
    size_t ap_next_capacity(size_t capacity, size_t wanted)
    void* ap_grow(void* data, size_t size, size_t old_capacity, size_t* capacity)
    void ap_release(void* data, size_t capacity)
    size_t ap_cache_size()
    size_t ap_cache_release()

cdef extern from "rows.h" nogil:
    size_t ap_same_kind(const uint8_t* run, size_t size, size_t count)
    bint ap_kind_matches(const uint8_t* run, size_t size, size_t i)
    size_t ap_copy_same_kind(unsigned char* out, const uint8_t* run, size_t size, size_t count,
                             bint stream)
    void ap_fill_offsets(int64_t* out, int64_t first, int64_t step, size_t count)
    void ap_stream_fence()


cdef struct Growable:
    char* data
    Py_ssize_t size          # bytes in use
    Py_ssize_t capacity


cdef int _reserve(Growable* g, Py_ssize_t more) noexcept nogil:
    """Room for `more` bytes; 0 on success, -1 out of memory."""
    cdef size_t capacity = ap_next_capacity(g.capacity, g.size + more)
    cdef char* grown = <char*>ap_grow(g.data, g.size, g.capacity, &capacity)
    if grown is NULL:
        return -1
    g.data = grown
    g.capacity = capacity
    return 0


cdef int _reserve_within(Growable* g, Py_ssize_t more, Py_ssize_t most) noexcept nogil:
    """Room for `more` bytes, grown as _reserve grows it but by no more than `most` bytes, all
    that the rest of the input can add: a buffer that holds the whole input then ends at its
    size, not up to half again over it (room past the row cache's bound, so that its pages
    would be faulted and zeroed again by the next decode)."""
    cdef size_t capacity
    cdef char* grown
    if g.size + more <= g.capacity:
        return 0
    capacity = min(ap_next_capacity(g.capacity, g.size + more),
                   <size_t>(g.size + max(more, most)))
    grown = <char*>ap_grow(g.data, g.size, g.capacity, &capacity)
    if grown is NULL:
        return -1
    g.data = grown
    g.capacity = capacity
    return 0


cdef inline int _append(Growable* g, const void* source, Py_ssize_t size) noexcept nogil:
    if g.size + size > g.capacity and _reserve(g, size):
        return -1
    memcpy(g.data + g.size, source, size)
    g.size += size
    return 0


cdef struct TypeRows:
    TypeRows* next           # the rows of the type's other versions
    uint8_t version          # the version whose schema read these rows
    Growable rows            # header + fixed body of each frame, back to back
    Growable offsets         # int64 frame offset in the source, per row; those of `runs` are
                             # written when first read (_OwnedMemory), their pages untouched till then
    Growable runs            # OffsetRun entries: the rows that runs of fixed-size frames kept
    Growable tails           # the bytes after the fixed body, of the rows that have any
    Growable tail_index      # int64 triples: row, start in tails, length
    Py_ssize_t row_size
    Py_ssize_t count


cdef struct OffsetRun:
    int64_t row              # the first row of the run
    int64_t first            # its frame's offset in the source
    int64_t step             # the size of each of its frames
    int64_t count


cdef struct Stretch:
    int64_t offset
    int64_t length
    int64_t kind             # a Status


cdef struct BatchState:
    TypeRows* types[256]
    Growable stretches
    uint8_t wanted[256]
    bint verify
    bint runs                # runs of one fixed-size kind take _keep_run (else frame by frame)
    bint stream              # rows go out by non-temporal stores: the input outgrows a cache
    uint64_t limit
    const RuleSet* rules
    int pause_after          # a message type whose frames stop the decode, to be read under the GIL
    bint paused              # stopped after such a frame, which starts at watched_at
    Py_ssize_t watched_at
    Py_ssize_t consumed      # bytes fully decoded or reported; the rest waits for more input
    Py_ssize_t frames
    Py_ssize_t candidates    # header starts (the magic) that resyncs checked
    ap_crc_ranges ranges     # prefix CRCs of the stretch being resynced, within one decode call


cdef void _free_growable(Growable* g) noexcept nogil:
    ap_release(g.data, g.capacity)
    g.data = NULL
    g.size = g.capacity = 0


cdef void _free_state(BatchState* state) noexcept nogil:
    cdef int t
    cdef TypeRows* rows
    for t in range(256):
        while state.types[t] is not NULL:
            rows = state.types[t]
            state.types[t] = rows.next
            _free_growable(&rows.rows)
            _free_growable(&rows.offsets)
            _free_growable(&rows.runs)
            _free_growable(&rows.tails)
            _free_growable(&rows.tail_index)
            free(rows)
    _free_growable(&state.stretches)
    ap_crc_ranges_free(&state.ranges)


cdef TypeRows* _rows_for(BatchState* state, uint8_t message_type,
                         const TypeRule* rule) noexcept nogil:
    """The rows of the version that reads a frame (`rule`), made on first use; NULL when out
    of memory."""
    cdef TypeRows* rows = state.types[message_type]
    while rows is not NULL and rows.version != rule.read_as:
        rows = rows.next
    if rows is NULL:
        rows = <TypeRows*>calloc(1, sizeof(TypeRows))
        if rows is NULL:
            return NULL
        rows.row_size = AP_HEADER_SIZE + rule.body_size
        rows.version = rule.read_as
        rows.next = state.types[message_type]
        state.types[message_type] = rows
    return rows


cdef inline int _keep_row(BatchState* state, const uint8_t* frame, Py_ssize_t size,
                          int64_t offset, const TypeRule* rule) noexcept nogil:
    """Copy a good frame's fixed part into the rows of the version that read it (`rule`)."""
    cdef TypeRows* rows = _rows_for(state, frame[4], rule)
    cdef Py_ssize_t fixed = AP_HEADER_SIZE + rule.body_size
    cdef int64_t entry[3]
    if rows is NULL:
        return -1
    if _append(&rows.rows, frame, fixed) or _append(&rows.offsets, &offset, 8):
        return -1
    if size > fixed:
        entry[0] = rows.count
        entry[1] = rows.tails.size
        entry[2] = size - fixed
        if (_append(&rows.tails, frame + fixed, size - fixed)
                or _append(&rows.tail_index, entry, 24)):
            return -1
    rows.count += 1
    return 0


cdef enum:
    RUN_MINIMUM = 4          # frames of one kind in a row that take the run path
    RUN_BLOCK = 16 << 10     # bytes of a run checked, checksummed and copied at a time: they
                             # stay in the L1 cache from the first pass to the last
    STREAM_MINIMUM = 8 << 20 # inputs from this size on write their rows with non-temporal
                             # stores: no cache keeps rows that many for whoever reads them


cdef inline bint _run_starts(const uint8_t* data, Py_ssize_t position,
                             Py_ssize_t size) noexcept nogil:
    """Whether RUN_MINIMUM whole frames of one header kind start at `position`, by their sizes
    and headers alone: a check of a few loads, made before the frame's own checks."""
    cdef uint32_t payload
    if position + 12 > size:
        return False
    memcpy(&payload, data + position + 8, 4)
    return (position + RUN_MINIMUM * (AP_HEADER_SIZE + <Py_ssize_t>payload) <= size
            and ap_same_kind(data + position, AP_HEADER_SIZE + payload, RUN_MINIMUM) == RUN_MINIMUM)


cdef inline bint _fixed_kind(BatchState* state, uint8_t message_type, Py_ssize_t frame_size,
                             const TypeRule* rule) noexcept nogil:
    """Whether frames of this header kind, which passed check_header, pass check_body whatever
    their bodies hold: the body fills the payload and nothing in it is counted or located.
    Frames of the watched type are left to the frame-by-frame path, which pauses after each."""
    return (frame_size == AP_HEADER_SIZE + <Py_ssize_t>rule.body_size and rule.tail_count == 0
            and rule.tlv_position_field < 0 and message_type != state.pause_after)


cdef Py_ssize_t _keep_run(BatchState* state, const uint8_t* data, Py_ssize_t position,
                          Py_ssize_t size, int64_t base, Py_ssize_t frame_size,
                          const TypeRule* rule) noexcept nogil:
    """Keep up to a block of frames of the fixed kind of the one at `position` (_fixed_kind),
    which passed check_header: those of the same header kind that follow it, up to the first
    whose checksum fails when verifying. Every check of check_frame holds for each frame kept,
    as its header kind decides them all but the checksum. Returns how many were kept (0 when
    fewer than RUN_MINIMUM have its kind), -1 when out of memory.

    The first pass copies the frames while comparing their kinds (ap_copy_same_kind), which
    brings the block into the cache; the checksums (several frames per vector register) then
    read it there. Rows copied past a frame whose checksum fails lie beyond the rows' size,
    room the next rows overwrite."""
    cdef const uint8_t* run = data + position
    cdef Py_ssize_t count = min((size - position) // frame_size, max(1, RUN_BLOCK // frame_size))
    cdef Py_ssize_t kept, remaining = size - position
    cdef TypeRows* rows = NULL
    # non-temporal stores for whole blocks alone: a short run (of a mixed capture) would
    # write parts of lines that way, which costs more than a cached store
    cdef bint stream = (state.stream and count * frame_size >= RUN_BLOCK // 2
                        and ap_kind_matches(run, frame_size, count - 1))
    if state.wanted[run[4]]:
        rows = _rows_for(state, run[4], rule)
        if rows is NULL:
            return -1
        if (_reserve_within(&rows.rows, count * frame_size, remaining)
                or _reserve_within(&rows.offsets, count * 8, remaining // frame_size * 8)):
            return -1
        count = ap_copy_same_kind(<unsigned char*>rows.rows.data + rows.rows.size, run,
                                  frame_size, count, stream)
    else:
        count = ap_same_kind(run, frame_size, count)
    if count < RUN_MINIMUM:
        return 0
    kept = <Py_ssize_t>ap_crc32_run(run, frame_size, count) if state.verify else count
    if rows is not NULL and kept:
        if _note_run(&rows.runs, rows.count, base + position, frame_size, kept):
            return -1
        rows.rows.size += kept * frame_size
        rows.offsets.size += kept * 8
        rows.count += kept
    state.frames += kept
    return kept


cdef int _note_run(Growable* runs, int64_t row, int64_t first, int64_t step,
                   int64_t count) noexcept nogil:
    """Record that rows `row` to `row + count - 1` hold frames of `step` bytes back to back
    from `first` on, joined to the previous run when this one goes on from it; -1 when out of
    memory. Their offsets are written only when read: a decode whose offsets nobody reads
    spares the writes and the fresh pages of a buffer of 8 bytes per row."""
    cdef OffsetRun* last
    cdef OffsetRun run
    if runs.size:
        last = <OffsetRun*>(runs.data + runs.size - sizeof(OffsetRun))
        if (last.step == step and last.row + last.count == row
                and last.first + last.count * step == first):
            last.count += count
            return 0
    run.row, run.first, run.step, run.count = row, first, step, count
    return _append(runs, &run, sizeof(OffsetRun))


cdef void _write_runs(int64_t* offsets, const Growable* runs) noexcept nogil:
    cdef const OffsetRun* run = <const OffsetRun*>runs.data
    cdef Py_ssize_t i
    for i in range(runs.size // <Py_ssize_t>sizeof(OffsetRun)):
        ap_fill_offsets(offsets + run[i].row, run[i].first, run[i].step, <size_t>run[i].count)


cdef inline bint _stop_after(BatchState* state, const uint8_t* frame,
                            Py_ssize_t start) noexcept nogil:
    """Whether the decode stops after this good frame (at `start`), of the watched type, so
    that it is read under the GIL before the frames after it."""
    if frame[4] != state.pause_after:
        return False
    state.paused = True
    state.watched_at = start
    return True


cdef int _add_stretch(BatchState* state, const Stretch* stretch) noexcept nogil:
    """Record a bad stretch, joining it to the previous one when they touch."""
    cdef Stretch* last
    if state.stretches.size:
        last = <Stretch*>(state.stretches.data + state.stretches.size - sizeof(Stretch))
        if last.offset + last.length == stretch.offset:
            last.length += stretch.length
            return 0
    return _append(&state.stretches, stretch, sizeof(Stretch))


cdef inline bint _checksum_passes(BatchState* state, const uint8_t* data, Py_ssize_t end,
                                  Py_ssize_t start, Py_ssize_t frame_size) noexcept nogil:
    """Whether a resync candidate's checksum matches, from the prefix CRCs of the stretch in
    O(1) amortised whatever size it claims (directly when out of memory for them)."""
    cdef uint32_t crc
    if not state.verify:
        return True
    if ap_crc32_frame_span(&state.ranges, data, end, start, frame_size, &crc):
        crc = ap_crc32_frame(data + start, frame_size)
    return crc == (<const MessageHeader_t*>(data + start)).checksum


cdef Py_ssize_t _next_frame(const uint8_t* data, Py_ssize_t start, Py_ssize_t end,
                            BatchState* state, bint final, Problem* p,
                            bint* found) noexcept nogil:
    """Where the next good frame starts after a bad stretch: a header whose checks (checksum
    included, when verifying) pass, or a plausible frame cut by the end of non-final input.
    `found` tells a good frame from the places that only more input can settle (such a cut
    frame, the last 3 bytes of non-final input) or the end of final input.

    A candidate passes the checks that cost O(1) first (its header, tail counts), then its
    checksum, computed in O(1) amortised whatever size it claims, and only then the walk of
    its TLVs, which costs that size: headers that each claim the largest size would otherwise
    cost that much each, quadratic in the garbage."""
    cdef const uint8_t* hit
    cdef Py_ssize_t frame_size
    cdef const TypeRule* rule
    cdef Status status
    cdef uint32_t magic
    found[0] = False
    while start + 4 <= end:
        hit = <const uint8_t*>memchr(data + start, 0xEF, end - start - 3)
        if hit is NULL:
            break
        start = hit - data
        memcpy(&magic, hit, 4)
        if magic == AP_MAGIC:
            state.candidates += 1
            status = check_header(hit, end - start, start, state.limit, state.rules,
                                  &frame_size, &rule, p)
            if (status == OK and check_body(hit, start, rule, False, p) == OK
                    and _checksum_passes(state, data, end, start, frame_size)
                    and check_body(hit, start, rule, True, p) == OK):
                found[0] = True
                return start
            if status == ST_TRUNCATED and not final:
                return start
        start += 1
    return end if final else max(start, end - 3)


@cython.final
cdef class Resync:
    """Finds where decoding resumes after a bad frame, as the batch decoder does: the next
    header whose checks pass, checksum included, each candidate in O(1) amortised whatever
    size it claims. For readers that decode a frame at a time and resync between reads."""

    cdef BatchState state    # its verify, limit, rules and ranges alone
    cdef object _registry
    cdef bint _busy          # a next_frame() runs: its C loop writes the state without the GIL

    def __cinit__(self, bint verify=True, max_frame_size=None, registry=None):
        memset(&self.state, 0, sizeof(BatchState))
        self.state.verify = verify
        self.state.limit = _max_size_arg(max_frame_size)
        self.state.rules = _rules_of(registry)
        self._registry = registry  # keeps its rules alive

    def __dealloc__(self):
        ap_crc_ranges_free(&self.state.ranges)

    def next_frame(self, buffer, Py_ssize_t start, bint final=True):
        """(position, found): where the next good frame of `buffer` begins from byte `start` on,
        and True; or, when none does, where to look again once more input follows (a frame
        that the end cuts, the last 3 bytes), or the end when `final`, and False."""
        cdef Py_buffer view
        cdef Problem problem
        cdef bint found = False
        cdef Py_ssize_t position
        if self._busy:
            raise RuntimeError("Resync is in use by another thread")
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
        self._busy = True  # set and read under the GIL, so no other thread races this check
        try:
            if not 0 <= start <= view.len:
                raise ValueError(f"next_frame: start {start} is outside the {view.len}-byte"
                                 " buffer")
            with nogil:
                position = _next_frame(<const uint8_t*>view.buf, start, view.len, &self.state,
                                       final, &problem, &found)
                # the prefixes are of this buffer, which the next call may not be
                ap_crc_ranges_free(&self.state.ranges)
        finally:
            self._busy = False
            PyBuffer_Release(&view)
        return position, found

    @property
    def candidates(self):
        """Header starts checked so far: each costs O(1) amortised."""
        return self.state.candidates

    @property
    def checksummed_bytes(self):
        """Bytes that the checksums of the candidates went over so far, prefix CRCs included:
        linear in the bytes searched, whatever sizes the candidates claim."""
        return self.state.ranges.hashed


cdef enum:
    CHECKSUM_GROUP = 8  # frames whose checksums are computed together


cdef Py_ssize_t _verified_group(BatchState* state, const uint8_t* data, Py_ssize_t position,
                                Py_ssize_t size, int64_t base, bint* failed) noexcept nogil:
    """Keep the frames of a group from `position` on whose structure and checksums pass, their
    checksums computed together; returns where the first frame not kept (or the input)
    begins. For frames of mixed kinds: runs of one kind take _keep_run."""
    cdef const unsigned char* frames[CHECKSUM_GROUP]
    cdef size_t sizes[CHECKSUM_GROUP]
    cdef const TypeRule* read_by[CHECKSUM_GROUP]
    cdef unsigned int crcs[CHECKSUM_GROUP]
    cdef Py_ssize_t count = 0, at = position, frame_size = 0, i
    cdef Problem problem
    while count < CHECKSUM_GROUP and at < size and check_frame(
            data + at, size - at, at, False, state.limit, state.rules, &frame_size,
            &read_by[count], &problem) == OK:
        frames[count] = data + at
        sizes[count] = frame_size
        count += 1
        at += frame_size
    if count == 0:
        return position
    ap_crc32_frames(frames, sizes, crcs, count)
    for i in range(count):
        if crcs[i] != (<const MessageHeader_t*>frames[i]).checksum:
            return position
        if state.wanted[frames[i][4]] and _keep_row(
                state, frames[i], sizes[i], base + position, read_by[i]):
            failed[0] = True
            return position
        state.frames += 1
        position += sizes[i]
        if _stop_after(state, frames[i], position - sizes[i]):
            return position
    return position


cdef int _decode_into(BatchState* state, const uint8_t* data, Py_ssize_t size, int64_t base,
                      bint final) noexcept nogil:
    """Decode data[0:size]; `base` is its offset in the whole source. -1 when out of memory."""
    cdef int failed = _decode_run(state, data, size, base, final)
    ap_crc_ranges_free(&state.ranges)  # they are of this buffer, which the next call may not be
    if state.stream:
        ap_stream_fence()  # the rows are read next by whichever thread takes them
    return failed


cdef int _decode_run(BatchState* state, const uint8_t* data, Py_ssize_t size, int64_t base,
                     bint final) noexcept nogil:
    cdef Py_ssize_t position = 0, frame_size = 0, resume
    cdef const TypeRule* rule
    cdef Problem problem
    cdef Status status
    cdef Stretch stretch
    cdef uint32_t claimed
    cdef Py_ssize_t kept, at
    cdef bint failed = False, found
    state.paused = False
    state.stream = size >= STREAM_MINIMUM
    while position < size:
        if state.runs and _run_starts(data, position, size) and check_header(
                data + position, size - position, position, state.limit, state.rules,
                &frame_size, &rule, &problem) == OK and _fixed_kind(
                state, data[position + 4], frame_size, rule):
            kept = _keep_run(state, data, position, size, base, frame_size, rule)
            if kept < 0:
                return -1
            if kept:
                position += kept * frame_size
                continue
        if state.verify:
            at = _verified_group(state, data, position, size, base, &failed)
            if failed:
                return -1
            if at > position:
                position = at
                if state.paused:
                    break
                continue
        status = check_frame(data + position, size - position, position, state.verify,
                             state.limit, state.rules, &frame_size, &rule, &problem)
        if status == OK:
            if state.wanted[data[position + 4]] and _keep_row(
                    state, data + position, frame_size, base + position, rule):
                return -1
            state.frames += 1
            position += frame_size
            if _stop_after(state, data + position - frame_size, position - frame_size):
                break
            continue
        if status == ST_TRUNCATED and not final:
            break  # the rest of this frame comes with the next chunk
        resume = _next_frame(data, position + 1, size, state, final, &problem, &found)
        stretch.offset = base + position
        stretch.length = resume - position
        stretch.kind = status
        if status == ST_CHECKSUM and size - position >= 12:
            # a frame cut short and followed by the next one fails its checksum: it is truncated
            memcpy(&claimed, data + position + 8, 4)
            if resume - position < AP_HEADER_SIZE + <Py_ssize_t>claimed:
                if found:
                    stretch.kind = ST_TRUNCATED
                elif not final:
                    # whether a next frame starts inside this one only more input can tell:
                    # the frame goes again with it (it is within the chunk, so this carries
                    # no more than a frame cut by the chunk's end would)
                    break
        if _add_stretch(state, &stretch):
            return -1
        position = resume
    state.consumed = position
    return 0


@cython.final
@cython.auto_pickle(False)  # Cython's would pickle `data` as a NUL-terminated string
cdef class _OwnedMemory:
    """malloc'ed bytes handed to numpy without a copy; freed with the last array that uses them.
    Row offsets come with the runs whose offsets are still to be written: the first export
    writes them, under the GIL, so that no reader ever sees the slots unwritten."""

    cdef char* data
    cdef Py_ssize_t size
    cdef Py_ssize_t capacity
    cdef Growable runs

    def __dealloc__(self):
        ap_release(self.data, self.capacity)
        _free_growable(&self.runs)

    def __getbuffer__(self, Py_buffer* view, int flags):
        if self.runs.size:
            _write_runs(<int64_t*>self.data, &self.runs)
            _free_growable(&self.runs)
        PyBuffer_FillInfo(view, self, self.data, self.size, 0, flags)

    def __releasebuffer__(self, Py_buffer* view):
        pass


cdef object _take(Growable* g):
    """The bytes of `g` as an object exporting them; `g` is left empty."""
    cdef _OwnedMemory memory = _OwnedMemory.__new__(_OwnedMemory)
    memory.data = g.data
    memory.size = g.size
    memory.capacity = g.capacity
    g.data = NULL
    g.size = g.capacity = 0
    return memory


cdef object _take_offsets(TypeRows* rows):
    """The row offsets of `rows`, with the runs whose offsets are still to be written."""
    cdef _OwnedMemory memory = <_OwnedMemory>_take(&rows.offsets)
    memory.runs = rows.runs
    rows.runs.data = NULL
    rows.runs.size = rows.runs.capacity = 0
    return memory


@cython.final
cdef class BatchDecoder:
    """Decodes buffers of frames into rows per message type; feed() it chunks in order.

    The decode loop runs without the GIL, so decoders in other threads run at the same time.
    Runs of frames of one fixed-size kind are checked and copied a block at a time; with
    `runs` False every frame is read on its own, which gives the same result more slowly (the
    reference the run path is tested against).
    """

    cdef BatchState state
    cdef object _registry
    cdef object _on_watched
    cdef bint _busy  # a feed() runs: its C loop writes the state without the GIL

    cdef int _refuse_if_busy(self) except -1:
        if self._busy:
            raise RuntimeError("BatchDecoder is in use by another thread")
        return 0

    def __cinit__(self, bint verify=True, types=None, max_frame_size=None, registry=None,
                  int watch_type=-1, on_watched=None, bint runs=True):
        memset(&self.state, 0, sizeof(BatchState))
        self.state.verify = verify
        self.state.runs = runs
        self.state.limit = _max_size_arg(max_frame_size)
        self.state.rules = _rules_of(registry)
        self._registry = registry  # keeps its rules alive
        self.state.pause_after = watch_type
        self._on_watched = on_watched
        if types is None:
            memset(self.state.wanted, 1, 256)
        else:
            for message_type in types:
                self.state.wanted[<uint8_t>_uint_arg(message_type, 0xFF, "types")] = 1

    def __dealloc__(self):
        _free_state(&self.state)

    def feed(self, buffer, int64_t base=0, bint final=True):
        """Decode `buffer`, which starts at byte `base` of the source; returns how many bytes
        were consumed (less than its length only when not final: a frame cut by the end).

        Each good frame of `watch_type` is handed to `on_watched` (as bytes, with its offset in
        the source) before the frames after it are decoded, so that it can change what they
        decode as (a schema announcement).
        """
        cdef Py_buffer view
        cdef int failed = 0
        cdef Py_ssize_t done = 0, frame_start
        cdef const uint8_t* data
        self._refuse_if_busy()
        PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE)
        self._busy = True  # set and read under the GIL, so no other thread races this check
        try:
            data = <const uint8_t*>view.buf
            while True:
                with nogil:
                    failed = _decode_into(&self.state, data + done, view.len - done, base + done,
                                          final)
                frame_start = done + self.state.watched_at
                done += self.state.consumed
                if failed or not self.state.paused:
                    break
                self._on_watched(PyBytes_FromStringAndSize(<const char*>data + frame_start,
                                                           done - frame_start),
                                 base + frame_start)
        finally:
            self._busy = False
            PyBuffer_Release(&view)
        if failed:
            raise MemoryError("out of memory while decoding a batch")
        return done

    @property
    def frames(self):
        """Good frames seen so far, of every type."""
        return self.state.frames

    def take(self):
        """Hand over what was decoded and start afresh: ({(type, version): parts}, stretches),
        where parts holds the row bytes, frame offsets, tail bytes and tail index of the frames
        that the schema of (type, version) read."""
        cdef int t
        cdef TypeRows* rows
        self._refuse_if_busy()
        decoded = {}
        for t in range(256):
            rows = self.state.types[t]
            while rows is not NULL:
                decoded[t, rows.version] = (_take(&rows.rows), _take_offsets(rows),
                                            _take(&rows.tails), _take(&rows.tail_index))
                rows = rows.next
        stretches = _take(&self.state.stretches)
        self.state.frames = 0
        _free_state(&self.state)
        return decoded, stretches


def cached_buffer_bytes():
    """Bytes of the row buffers kept mapped for the next batch decode (after the arrays that
    used them were freed), so that it neither faults nor zeroes their pages again."""
    return ap_cache_size()


def release_buffers():
    """Hand the cached row buffers back to the system; returns the bytes released."""
    cdef size_t released
    with nogil:
        released = ap_cache_release()
    return released


def _seal_frames(buffer, offsets, int message_type, int version=1, registry=None):
    """Seal frames laid out back to back in a writable buffer: `offsets` (int64, one per frame,
    then the end) delimit them. Sets magic, message_type, payload_size, `version` where it is
    0, and the checksum, then checks each frame as a decoder would."""
    cdef const RuleSet* rules = _rules_of(registry)
    cdef Py_buffer view, bounds
    cdef Py_ssize_t i, count, start, size, frame_size
    cdef const TypeRule* rule
    cdef Problem problem
    cdef Status status = OK
    cdef MessageHeader_t* header
    cdef uint8_t* data
    cdef int64_t* edges = NULL
    if not (0 <= message_type <= 255 and 0 <= version <= 255):
        raise ValueError(f"_seal_frames: message_type {message_type} and version {version} are"
                         " not both in 0..255")
    if find_rule(rules, message_type, version) is NULL:
        raise UnknownVersionError(f"_seal_frames: no schema reads message type {message_type}"
                                  f" version {version}", field="message_type")
    # the offsets are copied out first: `offsets` may be a view of the buffer being written
    PyObject_GetBuffer(offsets, &bounds, PyBUF_SIMPLE)
    try:
        if bounds.len % 8:
            raise ValueError(f"_seal_frames: offsets are int64 values, got {bounds.len} bytes")
        count = bounds.len // 8 - 1
        edges = <int64_t*>malloc(max(bounds.len, 8))
        if edges is NULL:
            raise MemoryError()
        memcpy(edges, bounds.buf, bounds.len)
    finally:
        PyBuffer_Release(&bounds)
    try:
        PyObject_GetBuffer(buffer, &view, PyBUF_WRITABLE)
        try:
            for i in range(count):
                if not (0 <= edges[i] <= edges[i + 1] <= view.len
                        and AP_HEADER_SIZE <= edges[i + 1] - edges[i] <= AP_HEADER_SIZE + 0xFFFFFFFF):
                    raise ValueError(
                        f"_seal_frames: frame {i} from offset {edges[i]} to {edges[i + 1]} is not"
                        f" a frame of at least {AP_HEADER_SIZE} bytes in the {view.len}-byte buffer,"
                        " after the frame before it")
            data = <uint8_t*>view.buf
            with nogil:
                for i in range(count):
                    start = edges[i]
                    size = edges[i + 1] - start
                    header = <MessageHeader_t*>(data + start)
                    header.magic = AP_MAGIC
                    header.message_type = message_type
                    header.payload_size = <uint32_t>(size - AP_HEADER_SIZE)
                    if header.version == 0:
                        header.version = version
                    header.checksum = ap_crc32_frame(data + start, size)
                    status = check_frame(data + start, size, start, False, UINT64_MAX, rules,
                                         &frame_size, &rule, &problem)
                    if status:
                        break
        finally:
            PyBuffer_Release(&view)
    finally:
        free(edges)
    if status:
        error = problem_error(&problem)
        raise FieldValueError(f"row {i}: {error}", offset=problem.offset,
                              frame_offset=problem.frame_offset, field=getattr(error, "field", None))
