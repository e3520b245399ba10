# The tables the nogil checks read: per (message type, version), how a frame of it is laid out.
#
# A RuleTable is read without the GIL by any number of decoders while another thread
# publishes into it. Publishing never writes into a table a reader may hold: it fills a new
# TypeEntry and swaps the type's pointer with a release store; readers load it with acquire.
# Replaced entries are kept until the table goes, since a decoder may still be reading one.

cdef extern from *:
    """
    #define ap_load_entry(slot) __atomic_load_n((slot), __ATOMIC_ACQUIRE)
    #define ap_store_entry(slot, value) __atomic_store_n((slot), (value), __ATOMIC_RELEASE)
    """
    TypeEntry* ap_load_entry(TypeEntry* const* slot) noexcept nogil
    void ap_store_entry(TypeEntry** slot, TypeEntry* value) noexcept nogil


cdef enum Extra:
    EXTRA_UNKNOWN = 0  # not looked up yet (a built message, until asked)
    EXTRA_TLV = 1      # bytes after the fixed body are TLV extensions
    EXTRA_NONE = 2     # the payload is the fixed body and its tails, nothing more
    EXTRA_UNSEEN = 3   # a later version read by an earlier one: the bytes after are its fields


cdef struct TypeRule:
    uint32_t body_size               # the fixed body of the schema that reads this version
    uint8_t known                    # 0: no schema reads this (type, version)
    uint8_t read_as                  # the version whose schema reads it
    uint8_t extra                    # an Extra
    uint8_t tail_count               # variable tail segments after the body (0 to 2)
    uint16_t tail_count_offset[2]    # body offset of each segment's count field
    uint8_t tail_count_width[2]      # that field's width in bytes
    uint16_t tail_element_size[2]    # bytes per counted element
    int32_t tlv_position_field       # body offset of tlv_offset/tlv_length, -1 if none
    PyObject* cls                    # the message class of read_as; the RuleTable holds it


cdef struct TypeEntry:
    TypeRule rules[256]              # by the frame's version


cdef struct RuleSet:
    TypeEntry* types[256]            # by message type, NULL when no version of it is known


cdef inline const TypeRule* find_rule(const RuleSet* rules, uint8_t message_type,
                                      uint8_t version) noexcept nogil:
    """The rule of (type, version), or NULL when no schema reads it."""
    cdef const TypeEntry* entry = ap_load_entry(&rules.types[message_type])
    if entry is NULL or not entry.rules[version].known:
        return NULL
    return &entry.rules[version]


@cython.final
cdef class RuleTable:
    """The C side of a schema registry: rules and message classes by (type, version)."""

    cdef RuleSet rules
    cdef list _retired        # addresses of replaced entries, freed with the table
    cdef list _classes        # every class published, kept alive for the borrowed pointers

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

        rules: {version: (read_as, body_size, extra, tails, tlv_position_field)}, tails a
        tuple of (count_offset, count_width, element_size); classes: {read_as: class}.
        """
        self._classes.extend(classes.values())
        cdef TypeEntry* entry = <TypeEntry*>calloc(1, sizeof(TypeEntry))
        cdef TypeRule* rule
        cdef int i
        if entry is NULL:
            raise MemoryError()
        for version, (read_as, body_size, extra, tails, tlv_position) in rules.items():
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
            rule.cls = <PyObject*>classes[read_as]
        old = <size_t>self.rules.types[message_type]
        ap_store_entry(&self.rules.types[message_type], entry)
        if old:
            self._retired.append(old)

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


cdef RuleTable DEFAULT_RULE_TABLE = RuleTable()
cdef const RuleSet* _DEFAULT_RULES = &DEFAULT_RULE_TABLE.rules


cdef inline const RuleSet* _rules_of(object registry) except NULL:
    if registry is None:
        return _DEFAULT_RULES
    return &(<RuleTable?>registry._table).rules
