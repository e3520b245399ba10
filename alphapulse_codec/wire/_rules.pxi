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

    def publish(self, int message_type, dict rules not None, dict classes not None):
        """Replace what the table knows of `message_type`.

        rules: {version: (read_as, body_size, extra, tails, tlv_position_field, conflict)},
        tails a tuple of at most two (count_offset, count_width, element_size); classes:
        {read_as: class}. Every rule is checked before any is published: the nogil checks and
        the message classes read frames by these numbers without checking them again.
        """
        if not 0 <= message_type <= 255:
            raise ValueError(f"RuleTable.publish: message_type {message_type} is not in 0..255")
        checked = [_checked_rule(version, spec, classes) for version, spec in rules.items()]
        cdef TypeEntry* entry = <TypeEntry*>calloc(1, sizeof(TypeEntry))
        cdef TypeRule* rule
        cdef int i
        if entry is NULL:
            raise MemoryError()
        for version, read_as, body_size, extra, tails, tlv_position, conflict, cls in checked:
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
            rule.cls = <PyObject*>cls
        self._classes.extend(classes.values())
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


cdef tuple _checked_rule(object version, object spec, dict classes):
    """(version, read_as, body_size, extra, tails, tlv_position, conflict, class) of one rule
    given to RuleTable.publish, or the error that says what does not fit the TypeRule."""
    where = f"RuleTable.publish: the rule of version {version!r}"
    if not PyLong_Check(version) or not 0 <= version <= 255:
        raise ValueError(f"{where}: a version is an int in 0..255")
    try:
        read_as, body_size, extra, tails, tlv_position, conflict = spec
        tails = tuple(tuple(tail) for tail in tails)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: expected (read_as, body_size, extra, tails,"
                        f" tlv_position_field, conflict), got {spec!r}") from None
    for name, value, low, high in (("read_as", read_as, 0, 255),
                                   ("body_size", body_size, 0, 0xFFFFFFFF),
                                   ("extra", extra, 0, 255),
                                   ("conflict", conflict, 0, 1),
                                   ("tlv_position_field", tlv_position, -1, 0x7FFFFFFF)):
        if not PyLong_Check(value) or not low <= value <= high:
            raise ValueError(f"{where}: {name} {value!r} is not an int in {low}..{high}")
    if extra not in (EXTRA_TLV, EXTRA_NONE, EXTRA_UNSEEN):
        raise ValueError(f"{where}: extra {extra!r} is not one of EXTRA_KINDS")
    if len(tails) > MAX_TAILS:
        raise ValueError(f"{where}: {len(tails)} tails, a layout has at most {MAX_TAILS}")
    for tail in tails:
        if (len(tail) != 3 or not all(PyLong_Check(value) for value in tail)
                or tail[1] not in (1, 2, 4) or not 0 <= tail[0] <= body_size - tail[1]
                or not 1 <= tail[2] <= 0xFFFF):
            raise ValueError(f"{where}: tail {tail!r} is not (count_offset, count_width 1, 2 or"
                             f" 4, element_size 1..65535) with its count in the {body_size}-byte body")
    if tlv_position >= 0 and tlv_position + 4 > body_size:
        raise ValueError(f"{where}: tlv_offset/tlv_length at body offset {tlv_position} are not"
                         f" in the {body_size}-byte body")
    cls = classes.get(read_as)
    if not (isinstance(cls, type) and issubclass(cls, Message)):
        raise TypeError(f"{where}: classes[{read_as}] is {cls!r}, not a message class")
    if _fixed_part(cls) > AP_HEADER_SIZE + body_size:
        raise ValueError(f"{where}: {cls.__name__} reads {_fixed_part(cls)} bytes of fixed part,"
                         f" more than the {AP_HEADER_SIZE + body_size} this rule checks")
    return version, read_as, body_size, extra, tails, tlv_position, conflict, cls


DEFAULT_RULE_TABLE = RuleTable()
_DEFAULT_RULES = &DEFAULT_RULE_TABLE.rules
