# Conversions between Python values and wire fields: checked on the way in, exact on the way
# out. Declarations, and the inline integer conversions every builder calls: _convert.pxd.


@cython.final
cdef class _Required:
    """The default of a body field that a message class must be given (its signature shows
    it): a builder that finds it raises MissingFieldError naming every such field left out."""

    def __repr__(self):
        return "<required>"


_REQUIRED = _Required()


cdef int _keep_small_ints() except -1:
    cdef int i
    for i in range(256):
        value = PyLong_FromLong(i)  # the interpreter's cached int: the same object as before
        Py_INCREF(value)
        ap_small_ints[i] = <PyObject*>value
    return 0


_keep_small_ints()


cdef int _missing_fields(str class_name, tuple names, tuple values) except -1:
    missing = tuple(name for name, value in zip(names, values) if value is _REQUIRED)
    plural = "s" if len(missing) > 1 else ""
    raise MissingFieldError(
        f"{class_name}: missing required field{plural} {', '.join(missing)} (only fields whose"
        " zero means none, tails, TLVs and header fields have defaults)", missing=missing)

cdef object _index_of(object value, str where):
    # _as_index's path for a value that is not an int, out of line because it needs the
    # module's Python names, which _convert.pxd's inline body cannot see
    try:
        return operator_index(value)
    except TypeError:
        raise FieldValueError(f"{where}: expected an integer, got {type(value).__name__} {value!r}",
                              field=where) from None


cdef int _range_error(object value, object minimum, object maximum, str where) except -1:
    PyErr_Clear()
    if not PyLong_Check(value):
        value = _as_index(value, where)
    raise FieldValueError(f"{where}: {value} is out of range [{minimum}, {maximum}]", field=where)


cdef ap_u128 _u128_arg(object value, bint signed, str where) except *:
    cdef ap_u128 result
    value = _as_index(value, where)
    try:
        raw = value.to_bytes(16, "little", signed=signed)
    except OverflowError:
        bounds = "[-2**127, 2**127 - 1]" if signed else "[0, 2**128 - 1]"
        raise FieldValueError(f"{where}: {value} is out of range {bounds}", field=where) from None
    memcpy(&result, PyBytes_AS_STRING(raw), 16)
    return result


cdef object _u128_value(ap_u128 value, bint signed):
    cdef object combined = (<object>value.hi << 64) | <object>value.lo
    if signed and value.hi >> 63:
        combined -= 1 << 128
    return combined


cdef bytes _bytes_like(object value, str where):
    if isinstance(value, str):
        if not value.startswith(("0x", "0X")):
            raise FieldValueError(f"{where}: a text value must be '0x' + hex, got {value!r}",
                                  field=where)
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            raise FieldValueError(f"{where}: {value!r} is not valid hex", field=where) from None
    try:
        return bytes(memoryview(value))
    except TypeError:
        raise FieldValueError(f"{where}: expected bytes or '0x' + hex, got {type(value).__name__}",
                              field=where) from None


cdef int _bytes_arg(object value, uint8_t* dest, Py_ssize_t size, str where) except -1:
    cdef bytes raw = _bytes_like(value, where)
    if len(raw) == 0:
        return 0  # an empty value leaves the field zero, as its default
    if len(raw) != size:
        raise FieldValueError(f"{where}: expected {size} bytes, got {len(raw)}", field=where)
    memcpy(dest, PyBytes_AS_STRING(raw), size)
    return 0


cdef int _ascii_arg(object value, uint8_t* dest, Py_ssize_t size, str where) except -1:
    # the inverse of _ascii_value: one character per byte, so whatever a frame holds, its
    # decoded text builds the same bytes again
    if not isinstance(value, str):
        raise FieldValueError(f"{where}: expected text, got {type(value).__name__}", field=where)
    cdef bytes raw
    try:
        raw = (<str>value).encode("latin-1")
    except UnicodeEncodeError as error:
        raise FieldValueError(
            f"{where}: character {error.start} ({value[error.start]!r}) is above U+00FF; each"
            f" character is one byte, code points 0-255", field=where) from None
    if len(raw) > size:
        raise FieldValueError(f"{where}: {len(raw)} characters do not fit in {size}", field=where)
    if len(raw) and raw[len(raw) - 1] == 0:
        raise FieldValueError(f"{where}: the text ends in NUL, which the field's NUL padding"
                              " would swallow on decode", field=where)
    memcpy(dest, PyBytes_AS_STRING(raw), len(raw))
    return 0


cdef str _ascii_value(const uint8_t* data, Py_ssize_t size):
    while size > 0 and data[size - 1] == 0:
        size -= 1
    return PyUnicode_DecodeLatin1(<const char*>data, size, NULL)


cdef bytes _utf8_tail(object value, uint64_t maximum, str where):
    if not isinstance(value, str):
        raise FieldValueError(f"{where}: expected text, got {type(value).__name__}", field=where)
    cdef bytes raw = (<str>value).encode("utf-8", "surrogateescape")
    if <uint64_t>len(raw) > maximum:
        raise FieldValueError(f"{where}: {len(raw)} bytes exceed the maximum of {maximum}",
                              field=where)
    return raw


cdef bytes _canonical_json_tail(object value, uint64_t maximum, str where):
    # one schema, one text: receivers compare announcements by their bytes
    cdef bytes raw = _utf8_tail(value, maximum, where)
    check_canonical_json(value, where)
    return raw


cdef bytes _bytes_tail(object value, uint64_t maximum, str where):
    cdef bytes raw = _bytes_like(value, where)
    if <uint64_t>len(raw) > maximum:
        raise FieldValueError(f"{where}: {len(raw)} bytes exceed the maximum of {maximum}",
                              field=where)
    return raw


cdef bytes _levels_tail(object levels, uint64_t maximum, str where):
    cdef list items = list(levels)
    if <uint64_t>len(items) > maximum:
        raise FieldValueError(f"{where}: {len(items)} levels exceed the maximum of {maximum}",
                              field=where)
    cdef bytes raw = PyBytes_FromStringAndSize(NULL, len(items) * 16)
    cdef char* out = PyBytes_AS_STRING(raw)
    cdef int64_t price
    cdef uint64_t size
    cdef Py_ssize_t i
    for i in range(len(items)):
        level = items[i]
        try:
            level_price, level_size = level
        except (TypeError, ValueError):
            raise FieldValueError(f"{where}[{i}]: expected a (price, size) pair, got {level!r}",
                                  field=where) from None
        price = _int_arg(level_price, INT64_MIN, INT64_MAX, f"{where}[{i}].price")
        size = _uint_arg(level_size, UINT64_MAX, f"{where}[{i}].size")
        memcpy(out + 16 * i, &price, 8)
        memcpy(out + 16 * i + 8, &size, 8)
    return raw


cdef str _utf8_value(const uint8_t* data, Py_ssize_t size):
    return PyUnicode_DecodeUTF8(<const char*>data, size, "surrogateescape")


cdef bytes _bytes_value(const uint8_t* data, Py_ssize_t size):
    return PyBytes_FromStringAndSize(<const char*>data, size)


cdef tuple _levels_value(const uint8_t* data, Py_ssize_t count):
    cdef int64_t price
    cdef uint64_t size
    cdef list levels = []
    cdef Py_ssize_t i
    for i in range(count):
        memcpy(&price, data + 16 * i, 8)
        memcpy(&size, data + 16 * i + 8, 8)
        levels.append(BookLevel(price, size))
    return tuple(levels)
