# Declarations of _rules.pxi: the per-(type, version) rules the nogil checks read, the
# RuleTable that holds them, and the lookups every decoder makes.

cdef extern from *:
    """
    #define ap_load_entry(slot) __atomic_load_n((slot), __ATOMIC_ACQUIRE)
    #define ap_store_entry(slot, value) __atomic_store_n((slot), (value), __ATOMIC_RELEASE)
    """
    TypeEntry* ap_load_entry(TypeEntry* const* slot) noexcept nogil
    void ap_store_entry(TypeEntry** slot, TypeEntry* value) noexcept nogil


cdef enum:
    MAX_TAILS = 2  # variable tail segments a layout may have: the rule's and SchemaField's arrays


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
    uint8_t tail_count               # variable tail segments after the body (0 to MAX_TAILS)
    uint8_t conflict                 # two layouts were announced for this (type, version):
                                     # its frames are refused, read by neither
    uint16_t tail_count_offset[MAX_TAILS]  # body offset of each segment's count field
    uint8_t tail_count_width[MAX_TAILS]    # that field's width in bytes
    uint16_t tail_element_size[MAX_TAILS]  # bytes per counted element
    int32_t tlv_position_field       # body offset of tlv_offset/tlv_length, -1 if none
    PyObject* cls                    # the message class of read_as; the RuleTable holds it


cdef struct TypeEntry:
    TypeRule rules[256]              # by the frame's version


cdef struct RuleSet:
    TypeEntry* types[256]            # by message type, NULL when no version of it is known


cdef class RuleTable:
    cdef RuleSet rules
    cdef list _retired        # addresses of replaced entries, freed with the table
    cdef list _classes        # every class published, kept alive for the borrowed pointers


cdef RuleTable DEFAULT_RULE_TABLE
cdef const RuleSet* _DEFAULT_RULES


cdef inline const TypeRule* find_rule(const RuleSet* rules, uint8_t message_type,
                                      uint8_t version) noexcept nogil:
    """The rule of (type, version), or NULL when no schema reads it."""
    cdef const TypeEntry* entry = ap_load_entry(&rules.types[message_type])
    if entry is NULL or not entry.rules[version].known:
        return NULL
    return &entry.rules[version]


cdef inline const RuleSet* _rules_of(object registry) except NULL:
    if registry is None:
        return _DEFAULT_RULES
    return &(<RuleTable?>registry._table).rules
