# The tables the nogil checks read: per (message type, version), how a frame of it is laid out.
# Declarations, and the inline lookups: _rules.pxd.
#
# A RuleTable is read without the GIL by any number of decoders while another thread
# publishes into it. Publishing never writes into a table a reader may hold: it fills a new
# TypeEntry and swaps the type's pointer with a release store; readers load it with acquire.
# Replaced entries are kept until the table goes, since a decoder may still be reading one.

# no_gc_clear: a table dies in the cycle collection of its registry's classes; clearing its
# lists first would leave __dealloc__ without the retired entries it must free
@cython.final
@cython.no_gc_clear
cdef class RuleTable:
    """The C side of a schema registry: rules and message classes by (type, version)."""

    def __cinit__(self):
        memset(&self.rules, 0, sizeof(RuleSet))
        self._retired = []
        self._classes = []

    def __dealloc__(self):
        cdef int t
        for t in range(256):
            free(self.rules.types[t])
        for address in self._retired:
            free(<void*><size_t>address)

    def publish(self, int message_type, dict rules, dict classes):
        """Replace what the table knows of `message_type`.

        rules: {version: (read_as, body_size, extra, tails, tlv_position_field, conflict)},
        tails a tuple of (count_offset, count_width, element_size); classes: {read_as: class}.
        """
        self._classes.extend(classes.values())
        cdef TypeEntry* entry = <TypeEntry*>calloc(1, sizeof(TypeEntry))
        cdef TypeRule* rule
        cdef int i
        if entry is NULL:
            raise MemoryError()
        for version, (read_as, body_size, extra, tails, tlv_position, conflict) in rules.items():
            rule = &entry.rules[<uint8_t>version]
            rule.known = 1
            rule.read_as = read_as
            rule.body_size = body_size
            rule.extra = extra
            rule.tail_count = len(tails)
            for i, (offset, width, element_size) in enumerate(tails):
                rule.tail_count_offset[i] = offset
                rule.tail_count_width[i] = width
                rule.tail_element_size[i] = element_size
            rule.tlv_position_field = tlv_position
            rule.conflict = conflict
            rule.cls = <PyObject*>classes[read_as]
        old = <size_t>self.rules.types[message_type]
        ap_store_entry(&self.rules.types[message_type], entry)
        if old:
            self._retired.append(old)

    def copy(self):
        """A new table that knows what this one knows now. Its entries are copies, never
        shared, so that each table frees its own; it keeps the classes they point to alive.
        The caller keeps other threads from publishing into this table meanwhile (a registry
        holds its lock)."""
        cdef RuleTable table = RuleTable()
        cdef const TypeEntry* source
        cdef TypeEntry* entry
        cdef PyObject* kept
        cdef int t, v
        for t in range(256):
            source = ap_load_entry(&self.rules.types[t])
            if source is NULL:
                continue
            entry = <TypeEntry*>calloc(1, sizeof(TypeEntry))
            if entry is NULL:
                raise MemoryError()
            memcpy(entry, source, sizeof(TypeEntry))
            table.rules.types[t] = entry
            kept = NULL
            for v in range(256):
                # versions read by one schema share its class: keep each run of them once
                if entry.rules[v].cls is not NULL and entry.rules[v].cls is not kept:
                    kept = entry.rules[v].cls
                    table._classes.append(<object>kept)
        return table

    def count_lookups(self, int message_type, int version, Py_ssize_t times):
        """Look (type, version) up `times` times without the GIL; how many were found.
        For measuring the cost of the hot path's lookup."""
        cdef Py_ssize_t i, found = 0
        cdef uint8_t t = message_type
        cdef uint8_t v = version
        with nogil:
            for i in range(times):
                found += find_rule(&self.rules, t, v) is not NULL
        return found


DEFAULT_RULE_TABLE = RuleTable()
_DEFAULT_RULES = &DEFAULT_RULE_TABLE.rules
