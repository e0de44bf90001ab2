/*
 * schemas._pruned_json: decode one JSON line into the few fields a Claude Code transcript
 * line is accounted by, validating the whole line, or decline.
 *
 * The contract (tests/unit/schemas/sources/test_pruned_json.py checks it against orjson on
 * every fixture, the hostile corpus, mutated real lines and generated ones):
 *
 *     load(data, start, end) is None
 *  or load(data, start, end) == prune(orjson.loads(data[start:end]))   (types included)
 *
 * where prune keeps the top-level keys of TOP_KEYS and, when "message" is an object, only
 * its keys of MESSAGE_KEYS (schemas/sources/pruned.py writes prune in Python). So a line
 * this accepts is a line orjson accepts, decoded to the same values; every line it is not
 * sure of (a \u escape, a float or an exponent, a long number, deep nesting, a BOM, a value
 * that is not an object ...) is declined, and the caller decodes it with orjson. It never
 * raises for bad input: declining is its only answer to anything unusual.
 *
 * Why: orjson builds a Python object for every string of a line, and most of a transcript
 * line's bytes are prompts, code and model output that the accounting never reads. Here
 * those bytes are only validated: UTF-8 16 bytes at a time, strings 64 at a time.
 *
 * scan() applies the transcript prefilter (schemas/sources/prefilter.py) to a whole file
 * and load()s the lines it keeps that may carry usage: `parse` and `report --from` read a
 * file with one call (spendstream/parallel_parse.py).
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 128      /* orjson allows 1024; deeper lines are declined */
#define MAX_NUMBER_LEN 20  /* longer numbers are declined (orjson turns some into floats, some into errors) */
#define MAX_INT_DIGITS 18  /* a kept integer fits in a long long */

enum { DECLINE = 0, OK = 1, FAILED = -1 }; /* FAILED: a Python exception is set */
enum { CANDIDATE = 1, ESCAPED = 2, PLAIN = 3 }; /* scan()'s kinds of line */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
    int depth;
} Cursor;

typedef struct {
    const char *name;
    Py_ssize_t len;
    PyObject *key; /* interned */
} Key;

static Key top_keys[] = {
    {"type", 4, NULL},       {"isApiErrorMessage", 17, NULL}, {"costUSD", 7, NULL},
    {"message", 7, NULL},    {"sessionId", 9, NULL},          {"agentId", 7, NULL},
    {"timestamp", 9, NULL},  {"requestId", 9, NULL},          {"isSidechain", 11, NULL},
};
#define N_TOP (sizeof(top_keys) / sizeof(top_keys[0]))
#define MESSAGE_INDEX 3

static Key message_keys[] = {
    {"usage", 5, NULL},
    {"model", 5, NULL},
    {"id", 2, NULL},
};
#define N_MESSAGE (sizeof(message_keys) / sizeof(message_keys[0]))

static inline void skip_ws(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n')) c->p++;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0. */
static inline int utf8_sequence(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    Py_ssize_t room = end - p;
#define CONT(i) (room > (i) && (p[i] & 0xC0) == 0x80)
    if (b >= 0xC2 && b <= 0xDF) return CONT(1) ? 2 : 0;
    if (b == 0xE0) return (room > 1 && p[1] >= 0xA0 && p[1] <= 0xBF && CONT(2)) ? 3 : 0;
    if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return (CONT(1) && CONT(2)) ? 3 : 0;
    if (b == 0xED) return (room > 1 && p[1] >= 0x80 && p[1] <= 0x9F && CONT(2)) ? 3 : 0;
    if (b == 0xF0) return (room > 1 && p[1] >= 0x90 && p[1] <= 0xBF && CONT(2) && CONT(3)) ? 4 : 0;
    if (b >= 0xF1 && b <= 0xF3) return (CONT(1) && CONT(2) && CONT(3)) ? 4 : 0;
    if (b == 0xF4) return (room > 1 && p[1] >= 0x80 && p[1] <= 0x8F && CONT(2) && CONT(3)) ? 4 : 0;
#undef CONT
    return 0;
}

/* Whether [p, end) is well-formed UTF-8, as orjson checks its whole input first. Then a
 * string's bytes need no check of their own, and a byte >= 0x80 outside a string is a
 * syntax error like any other. */
static int utf8_valid(const unsigned char *p, const unsigned char *end) {
    while (p < end) {
#ifdef __SSE2__
        if (end - p >= 16) {
            /* straight to the first byte >= 0x80 of the next 16, if any */
            unsigned high = (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)p));
            if (high == 0) {
                p += 16;
                continue;
            }
            p += __builtin_ctz(high);
        }
#endif
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = utf8_sequence(p, end);
        if (n == 0) return 0;
        p += n;
    }
    return 1;
}

#define BLOCK 64
#define EVEN_BITS 0x5555555555555555ULL
#define ODD_BITS (~EVEN_BITS)

/* Bit i of each mask: byte i of the 64 at p is '"', '\\' or a control character (< 0x20). */
typedef struct {
    uint64_t quote, backslash, control;
} Masks;

static inline void block_masks(const unsigned char *p, Masks *m) {
    m->quote = m->backslash = m->control = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), low = _mm_set1_epi8(0x1F);
    for (int i = 0; i < 4; i++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * i));
        int shift = 16 * i;
        m->quote |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, quote)) << shift;
        m->backslash |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, backslash)) << shift;
        m->control |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(v, low), low)) << shift;
    }
#else
    for (int i = 0; i < BLOCK; i++) {
        uint64_t bit = 1ULL << i;
        if (p[i] == '"') m->quote |= bit;
        if (p[i] == '\\') m->backslash |= bit;
        if (p[i] < 0x20) m->control |= bit;
    }
#endif
}

/* The characters a backslash may escape here: "\\/bfnrt (\u is declined). */
static const unsigned char escapable[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1, ['r'] = 1, ['t'] = 1,
};

/* Whether every escaped character (bits of escaped, in the block at p) is escapable. */
static inline int escapes_valid(const unsigned char *p, uint64_t escaped) {
    unsigned all = 1;
    while (escaped) {
        all &= escapable[p[__builtin_ctzll(escaped)]];
        escaped &= escaped - 1;
    }
    return (int)all;
}

/* The characters escaped by an odd run of backslashes (the classic carry trick of
 * simdjson's first stage); *odd_carry: a run of odd length ends the block. */
static inline uint64_t escaped_chars(uint64_t backslash, uint64_t *odd_carry) {
    uint64_t starts = backslash & ~(backslash << 1);
    uint64_t even_start_mask = EVEN_BITS ^ *odd_carry;
    uint64_t even_starts = starts & even_start_mask, odd_starts = starts & ~even_start_mask;
    uint64_t even_carries = backslash + even_starts;
    uint64_t odd_carries;
    int overflow = __builtin_add_overflow(backslash, odd_starts, &odd_carries);
    odd_carries |= *odd_carry;
    *odd_carry = overflow ? 1 : 0;
    uint64_t even_carry_ends = even_carries & ~backslash, odd_carry_ends = odd_carries & ~backslash;
    return (even_carry_ends & ODD_BITS) | (odd_carry_ends & EVEN_BITS);
}

/* A string at c->p (its opening quote), the line's UTF-8 already checked: validated (no
 * control character, only the escapes JSON defines, no \u) and c->p left after its
 * closing quote. start and stop bound its raw content; escaped: it holds an escape. */
static int scan_string(Cursor *c, const unsigned char **start, const unsigned char **stop, int *escaped) {
    const unsigned char *p = c->p + 1, *end = c->end;
    unsigned char tail[BLOCK];
    uint64_t odd_carry = 0, seen_backslash = 0;
    *start = p;
#ifdef __SSE2__
    /* Most strings are short and plain: a quote among the next 16 bytes with no backslash or
     * control character before it. */
    if (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        unsigned quotes = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
        unsigned others = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')), _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x1F)), _mm_set1_epi8(0x1F))));
        if (quotes && (others & ((quotes & -quotes) - 1)) == 0) {
            *stop = p + __builtin_ctz(quotes);
            *escaped = 0;
            c->p = *stop + 1;
            return OK;
        }
    }
#endif
    for (; p < end; p += BLOCK) {
        const unsigned char *block = p;
        Py_ssize_t room = end - p;
        uint64_t valid = ~0ULL;
        if (room < BLOCK) {
            memset(tail, ' ', BLOCK);
            memcpy(tail, p, room);
            block = tail;
            valid = (1ULL << room) - 1;
        }
        Masks m;
        block_masks(block, &m);
        uint64_t escaped_here = m.backslash || odd_carry ? escaped_chars(m.backslash, &odd_carry) : 0;
        uint64_t closing = m.quote & ~escaped_here & valid;
        /* The bytes up to and including the closing quote, or the whole block. */
        uint64_t inside = closing ? ((closing & -closing) - 1) : valid;
        if ((m.control & inside) || !escapes_valid(block, escaped_here & inside)) return DECLINE;
        seen_backslash |= m.backslash & inside;
        if (closing) {
            *stop = p + __builtin_ctzll(closing);
            *escaped = seen_backslash != 0;
            c->p = *stop + 1;
            return OK;
        }
    }
    return DECLINE;
}

static PyObject *string_value(const unsigned char *start, const unsigned char *stop, int escaped) {
    if (!escaped) return PyUnicode_DecodeUTF8((const char *)start, stop - start, "strict");
    Py_ssize_t n = stop - start;
    char *buffer = PyMem_Malloc(n > 0 ? n : 1);
    if (buffer == NULL) return PyErr_NoMemory();
    Py_ssize_t out = 0;
    for (const unsigned char *p = start; p < stop; p++) {
        if (*p != '\\') {
            buffer[out++] = (char)*p;
            continue;
        }
        p++;
        switch (*p) {
        case 'b': buffer[out++] = '\b'; break;
        case 'f': buffer[out++] = '\f'; break;
        case 'n': buffer[out++] = '\n'; break;
        case 'r': buffer[out++] = '\r'; break;
        case 't': buffer[out++] = '\t'; break;
        default: buffer[out++] = (char)*p; break; /* '"', '\\', '/' */
        }
    }
    PyObject *text = PyUnicode_DecodeUTF8(buffer, out, "strict");
    PyMem_Free(buffer);
    return text;
}

/* Keys repeat on every line ("input_tokens", "ephemeral_5m_input_tokens" ...): the last
 * string made for each of KEY_SLOTS slots is given again for the same bytes, so it is neither
 * decoded nor hashed again. A key with an escape is decoded each time. */
#define KEY_SLOTS 256
#define KEY_MAX 40
static struct {
    Py_ssize_t len;
    unsigned char bytes[KEY_MAX];
    PyObject *text;
} key_cache[KEY_SLOTS];

static PyObject *key_value(const unsigned char *start, const unsigned char *stop, int escaped) {
    Py_ssize_t len = stop - start;
    if (escaped || len == 0 || len > KEY_MAX) return string_value(start, stop, escaped);
    unsigned slot = ((unsigned)len * 31u + start[0] * 7u + start[len - 1] + start[len / 2] * 3u) % KEY_SLOTS;
    if (key_cache[slot].text != NULL && key_cache[slot].len == len && memcmp(key_cache[slot].bytes, start, len) == 0)
        return Py_NewRef(key_cache[slot].text);
    PyObject *text = string_value(start, stop, 0);
    if (text == NULL) return NULL;
    Py_XSETREF(key_cache[slot].text, Py_NewRef(text));
    key_cache[slot].len = len;
    memcpy(key_cache[slot].bytes, start, len);
    return text;
}

/* A number at c->p: JSON's grammar; *integer tells whether it has neither fraction nor
 * exponent. Exponents and long numbers are declined. */
static int scan_number(Cursor *c, int *integer) {
    const unsigned char *p = c->p, *end = c->end, *first = p;
    if (p < end && *p == '-') p++;
    if (p >= end) return DECLINE;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') p++;
    } else {
        return DECLINE;
    }
    *integer = 1;
    if (p < end && *p == '.') {
        *integer = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return DECLINE;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) return DECLINE;
    if (p - first > MAX_NUMBER_LEN) return DECLINE;
    c->p = p;
    return OK;
}

static int scan_literal(Cursor *c, const char *word, Py_ssize_t len) {
    if (c->end - c->p < len || memcmp(c->p, word, len) != 0) return DECLINE;
    c->p += len;
    return OK;
}

static int skip_value(Cursor *c);
static int value(Cursor *c, PyObject **out);

static int skip_object(Cursor *c) {
    if (++c->depth > MAX_DEPTH) return DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        c->depth--;
        return OK;
    }
    for (;;) {
        const unsigned char *start, *stop;
        int escaped, r;
        if (c->p >= c->end || *c->p != '"') return DECLINE;
        if ((r = scan_string(c, &start, &stop, &escaped)) != OK) return r;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') return DECLINE;
        c->p++;
        skip_ws(c);
        if ((r = skip_value(c)) != OK) return r;
        skip_ws(c);
        if (c->p >= c->end) return DECLINE;
        if (*c->p == ',') {
            c->p++;
            skip_ws(c);
            continue;
        }
        if (*c->p != '}') return DECLINE;
        c->p++;
        c->depth--;
        return OK;
    }
}

static int skip_array(Cursor *c) {
    if (++c->depth > MAX_DEPTH) return DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        c->depth--;
        return OK;
    }
    for (;;) {
        int r = skip_value(c);
        if (r != OK) return r;
        skip_ws(c);
        if (c->p >= c->end) return DECLINE;
        if (*c->p == ',') {
            c->p++;
            skip_ws(c);
            continue;
        }
        if (*c->p != ']') return DECLINE;
        c->p++;
        c->depth--;
        return OK;
    }
}

static int skip_value(Cursor *c) {
    if (c->p >= c->end) return DECLINE;
    const unsigned char *start, *stop;
    int escaped, integer;
    switch (*c->p) {
    case '{': return skip_object(c);
    case '[': return skip_array(c);
    case '"': return scan_string(c, &start, &stop, &escaped);
    case 't': return scan_literal(c, "true", 4);
    case 'f': return scan_literal(c, "false", 5);
    case 'n': return scan_literal(c, "null", 4);
    default: return scan_number(c, &integer);
    }
}

/* An object's members into a dict. keys == NULL: every member (last one wins, as in
 * orjson); otherwise only the members named in keys, the others validated and skipped.
 * nested: index of the key whose object value is pruned by nested_keys, or -1. */
static int object_value(Cursor *c, PyObject **out, Key *keys, size_t n_keys, int nested, Key *nested_keys,
                        size_t n_nested) {
    if (++c->depth > MAX_DEPTH) return DECLINE;
    PyObject *dict = PyDict_New();
    if (dict == NULL) return FAILED;
    int r = DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        c->depth--;
        *out = dict;
        return OK;
    }
    for (;;) {
        const unsigned char *start, *stop;
        int escaped;
        if (c->p >= c->end || *c->p != '"') goto fail;
        if ((r = scan_string(c, &start, &stop, &escaped)) != OK) goto fail;
        r = DECLINE;
        skip_ws(c);
        if (c->p >= c->end || *c->p != ':') goto fail;
        c->p++;
        skip_ws(c);
        PyObject *key = NULL, *item = NULL;
        if (keys == NULL) {
            if ((key = key_value(start, stop, escaped)) == NULL) {
                r = FAILED;
                goto fail;
            }
            if ((r = value(c, &item)) != OK) {
                Py_DECREF(key);
                goto fail;
            }
        } else {
            /* An escape always yields a character no kept name has, so raw bytes decide. */
            int found = -1;
            if (!escaped) {
                for (size_t i = 0; i < n_keys; i++) {
                    if (keys[i].len == stop - start && memcmp(keys[i].name, start, keys[i].len) == 0) {
                        found = (int)i;
                        break;
                    }
                }
            }
            if (found < 0) {
                if ((r = skip_value(c)) != OK) goto fail;
            } else {
                if (found == nested && c->p < c->end && *c->p == '{') {
                    r = object_value(c, &item, nested_keys, n_nested, -1, NULL, 0);
                } else {
                    r = value(c, &item);
                }
                if (r != OK) goto fail;
                key = keys[found].key;
                Py_INCREF(key);
            }
        }
        if (key != NULL) {
            int set = PyDict_SetItem(dict, key, item);
            Py_DECREF(key);
            Py_DECREF(item);
            if (set < 0) {
                r = FAILED;
                goto fail;
            }
        }
        r = DECLINE;
        skip_ws(c);
        if (c->p >= c->end) goto fail;
        if (*c->p == ',') {
            c->p++;
            skip_ws(c);
            continue;
        }
        if (*c->p != '}') goto fail;
        c->p++;
        c->depth--;
        *out = dict;
        return OK;
    }
fail:
    Py_DECREF(dict);
    return r;
}

static int array_value(Cursor *c, PyObject **out) {
    if (++c->depth > MAX_DEPTH) return DECLINE;
    PyObject *list = PyList_New(0);
    if (list == NULL) return FAILED;
    int r = DECLINE;
    c->p++;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        c->depth--;
        *out = list;
        return OK;
    }
    for (;;) {
        PyObject *item = NULL;
        if ((r = value(c, &item)) != OK) goto fail;
        int appended = PyList_Append(list, item);
        Py_DECREF(item);
        if (appended < 0) {
            r = FAILED;
            goto fail;
        }
        r = DECLINE;
        skip_ws(c);
        if (c->p >= c->end) goto fail;
        if (*c->p == ',') {
            c->p++;
            skip_ws(c);
            continue;
        }
        if (*c->p != ']') goto fail;
        c->p++;
        c->depth--;
        *out = list;
        return OK;
    }
fail:
    Py_DECREF(list);
    return r;
}

static int value(Cursor *c, PyObject **out) {
    if (c->p >= c->end) return DECLINE;
    const unsigned char *start, *stop, *first = c->p;
    int escaped, integer, r;
    switch (*c->p) {
    case '{': return object_value(c, out, NULL, 0, -1, NULL, 0);
    case '[': return array_value(c, out);
    case '"':
        if ((r = scan_string(c, &start, &stop, &escaped)) != OK) return r;
        *out = string_value(start, stop, escaped);
        return *out == NULL ? FAILED : OK;
    case 't':
        if ((r = scan_literal(c, "true", 4)) != OK) return r;
        *out = Py_NewRef(Py_True);
        return OK;
    case 'f':
        if ((r = scan_literal(c, "false", 5)) != OK) return r;
        *out = Py_NewRef(Py_False);
        return OK;
    case 'n':
        if ((r = scan_literal(c, "null", 4)) != OK) return r;
        *out = Py_NewRef(Py_None);
        return OK;
    default:
        if ((r = scan_number(c, &integer)) != OK) return r;
        /* Floats are declined: the accounting reads integers, and a float's rounding is
         * orjson's business. */
        if (!integer || c->p - first > MAX_INT_DIGITS) return DECLINE;
        long long number = 0;
        int negative = *first == '-';
        for (const unsigned char *p = first + negative; p < c->p; p++) number = number * 10 + (*p - '0');
        *out = PyLong_FromLongLong(negative ? -number : number);
        return *out == NULL ? FAILED : OK;
    }
}

/* Decode data[start:end] as load() does: a new reference, Py_None when declined, NULL on a
 * Python error. */
static PyObject *pruned_line(const unsigned char *start, const unsigned char *end) {
    Cursor c = {start, end, 0};
    PyObject *out = NULL;
    int r = DECLINE;
    if (!utf8_valid(start, end)) Py_RETURN_NONE;
    skip_ws(&c);
    /* A top-level object only (orjson refuses a BOM; so does this, by declining). */
    if (c.p < c.end && *c.p == '{') {
        r = object_value(&c, &out, top_keys, N_TOP, MESSAGE_INDEX, message_keys, N_MESSAGE);
        if (r == OK) {
            skip_ws(&c);
            if (c.p != c.end) {
                Py_DECREF(out);
                r = DECLINE;
            }
        }
    }
    if (r == FAILED) return NULL;
    if (r == DECLINE) Py_RETURN_NONE;
    return out;
}

static PyObject *load(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn:load", &view, &start, &end)) return NULL;
    if (start < 0 || end > view.len || start > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "load: start and end must bound a slice of data");
        return NULL;
    }
    const unsigned char *base = (const unsigned char *)view.buf;
    PyObject *out = pruned_line(base + start, base + end);
    PyBuffer_Release(&view);
    return out;
}

/* Whether word (2 to 16 bytes) occurs in [start, end): memmem, but testing 16 places at a
 * time for the word's first and last byte (glibc's memmem is several times slower here). */
static inline int has(const unsigned char *start, const unsigned char *end, const char *word, size_t len) {
    const unsigned char *p = start;
#ifdef __SSE2__
    const __m128i first = _mm_set1_epi8(word[0]), last = _mm_set1_epi8(word[len - 1]);
    while (end - p >= (Py_ssize_t)(16 + len - 1)) {
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        __m128i b = _mm_loadu_si128((const __m128i *)(p + len - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last)));
        while (mask) {
            unsigned at = (unsigned)__builtin_ctz(mask);
            if (memcmp(p + at + 1, word + 1, len - 2) == 0) return 1;
            mask &= mask - 1;
        }
        p += 16;
    }
#endif
    return memmem(p, end - p, word, len) != NULL;
}

static inline int blank_line(const unsigned char *p, const unsigned char *end) {
    for (; p < end; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != 0x0b && *p != 0x0c) return 0;
    }
    return 1;
}


/* ---- plain(): claude_transcript.plain_response of a pruned line, or decline ----------
 *
 * The same reading, step by step, of what load() gave; whatever it is not sure of (a
 * timestamp not of the form YYYY-MM-DDTHH:MM:SS[.fff|.ffffff]Z, and every line for which
 * plain_response gives None) it declines, and the caller asks plain_response. Its
 * constants come from Python (configure(), called by schemas/sources/pruned.py). */

static PyObject *cfg_synthetic = NULL, *cfg_family = NULL, *str_assistant = NULL;
static Py_ssize_t cfg_max_id_len = 0;
static long long cfg_max_count = -1;
enum { U_INPUT, U_OUTPUT, U_READ, U_WRITE, U_SPLIT, U_5M, U_1H, U_TOOLS, U_SEARCHES, N_USAGE_KEYS };
static const char *usage_names[N_USAGE_KEYS] = {
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation",
    "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens", "server_tool_use", "web_search_requests",
};
static PyObject *usage_keys[N_USAGE_KEYS];

static inline int plain_text(PyObject *v) {
    return v != NULL && PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) > 0 && PyUnicode_GET_LENGTH(v) <= cfg_max_id_len;
}

/* _plain_count: 0 when missing or null, the count when an int in [0, MAX_COUNT], else -1. */
static long long plain_count(PyObject *dict, int key) {
    PyObject *v = PyDict_GetItemWithError(dict, usage_keys[key]);
    if (v == NULL || v == Py_None) return 0;
    if (!PyLong_CheckExact(v)) return -1;
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || n < 0 || n > cfg_max_count) return -1;
    return n;
}

static int two(const char *p) { return (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9') ? (p[0] - '0') * 10 + p[1] - '0' : -1; }

/* The moment of an ISO stamp of the canonical form, in UTC; NULL without an error set when
 * the stamp is of another form or not a valid time. */
static PyObject *canonical_moment(PyObject *stamp) {
    Py_ssize_t n;
    const char *t = PyUnicode_AsUTF8AndSize(stamp, &n);
    if (t == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if ((n != 20 && n != 24 && n != 27) || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':' || t[n - 1] != 'Z' || (n > 20 && t[19] != '.'))
        return NULL;
    int y1 = two(t), y2 = two(t + 2), mo = two(t + 5), d = two(t + 8), h = two(t + 11), mi = two(t + 14), se = two(t + 17);
    if (y1 < 0 || y2 < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0) return NULL;
    int micro = 0;
    for (Py_ssize_t i = 20; i < n - 1; i++) {
        if (t[i] < '0' || t[i] > '9') return NULL;
        micro = micro * 10 + (t[i] - '0');
    }
    if (n == 24) micro *= 1000;
    PyObject *moment = PyDateTimeAPI->DateTime_FromDateAndTime(y1 * 100 + y2, mo, d, h, mi, se, micro,
                                                               PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType);
    if (moment == NULL) PyErr_Clear(); /* a day or hour out of range: plain_response's call */
    return moment;
}

/* plain_response(obj) when sure, else NULL (with an error set only on a Python failure). */
static PyObject *plain(PyObject *obj) {
    if (cfg_max_count < 0) return NULL;
    PyObject *kind = PyDict_GetItemWithError(obj, top_keys[0].key);
    if (kind == NULL || !PyUnicode_CheckExact(kind) || PyUnicode_Compare(kind, str_assistant) != 0) return NULL;
    if (PyDict_Contains(obj, top_keys[1].key) || PyDict_Contains(obj, top_keys[2].key)) return NULL;
    PyObject *message = PyDict_GetItemWithError(obj, top_keys[MESSAGE_INDEX].key);
    if (message == NULL || !PyDict_CheckExact(message)) return NULL;
    PyObject *usage = PyDict_GetItemWithError(message, message_keys[0].key);
    PyObject *model = PyDict_GetItemWithError(message, message_keys[1].key);
    PyObject *message_id = PyDict_GetItemWithError(message, message_keys[2].key);
    PyObject *session_id = PyDict_GetItemWithError(obj, top_keys[4].key);
    PyObject *agent_id = PyDict_GetItemWithError(obj, top_keys[5].key);
    PyObject *stamp = PyDict_GetItemWithError(obj, top_keys[6].key);
    PyObject *request_id = PyDict_GetItemWithError(obj, top_keys[7].key);
    if (usage == NULL || !PyDict_CheckExact(usage) || !plain_text(model) || PyUnicode_Compare(model, cfg_synthetic) == 0 ||
        !plain_text(message_id) || !plain_text(session_id) || stamp == NULL || !PyUnicode_CheckExact(stamp) ||
        PyUnicode_GET_LENGTH(stamp) > 64 || !(request_id == NULL || request_id == Py_None || plain_text(request_id)))
        return NULL;
    long long inp = plain_count(usage, U_INPUT), out = plain_count(usage, U_OUTPUT);
    long long read = plain_count(usage, U_READ), write = plain_count(usage, U_WRITE);
    long long write_5m = 0, write_1h = 0, searches = 0;
    PyObject *split = PyDict_GetItemWithError(usage, usage_keys[U_SPLIT]);
    if (split != NULL && split != Py_None) {
        if (!PyDict_CheckExact(split)) return NULL;
        write_5m = plain_count(split, U_5M);
        write_1h = plain_count(split, U_1H);
    }
    PyObject *tools = PyDict_GetItemWithError(usage, usage_keys[U_TOOLS]);
    if (tools != NULL && tools != Py_None) {
        if (!PyDict_CheckExact(tools)) return NULL;
        searches = plain_count(tools, U_SEARCHES);
    }
    if (inp < 0 || out < 0 || read < 0 || write < 0 || write_5m < 0 || write_1h < 0 || searches < 0) return NULL;
    if (write_5m + write_1h > write) write = write_5m + write_1h;
    PyObject *scope, *lineage, *agent;
    if (agent_id == NULL || agent_id == Py_None || (PyUnicode_CheckExact(agent_id) && PyUnicode_GET_LENGTH(agent_id) == 0)) {
        PyObject *sidechain = PyDict_GetItemWithError(obj, top_keys[8].key);
        if (sidechain == Py_True) return NULL;
        scope = Py_NewRef(session_id);
        lineage = PyTuple_New(0);
        agent = Py_NewRef(Py_None);
    } else if (PyUnicode_CheckExact(agent_id) &&
               PyUnicode_GET_LENGTH(session_id) + PyUnicode_GET_LENGTH(agent_id) + 7 <= cfg_max_id_len) {
        scope = PyUnicode_FromFormat("%U/agent-%U", session_id, agent_id);
        lineage = PyTuple_Pack(1, session_id);
        agent = Py_NewRef(agent_id);
    } else {
        return NULL;
    }
    PyObject *moment = canonical_moment(stamp);
    PyObject *identity = PyUnicode_FromFormat("%U:%U:%U", cfg_family, session_id, message_id);
    PyObject *counts = Py_BuildValue("(LLiLLLL)", inp, out, 0, read, write - write_1h, write_1h, searches);
    PyObject *result = NULL;
    if (scope != NULL && lineage != NULL && moment != NULL && identity != NULL && counts != NULL) {
        result = PyTuple_Pack(10, identity, scope, lineage, agent, session_id, model, message_id,
                              request_id == NULL ? Py_None : request_id, moment, counts);
    }
    Py_XDECREF(scope);
    Py_XDECREF(lineage);
    Py_XDECREF(agent);
    Py_XDECREF(moment);
    Py_XDECREF(identity);
    Py_XDECREF(counts);
    return result;
}

static PyObject *plain_py(PyObject *Py_UNUSED(module), PyObject *obj) {
    if (!PyDict_CheckExact(obj)) Py_RETURN_NONE;
    PyObject *result = plain(obj);
    if (result == NULL && !PyErr_Occurred()) Py_RETURN_NONE;
    return result;
}

static PyObject *configure(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *synthetic, *family;
    Py_ssize_t max_id_len;
    long long max_count;
    if (!PyArg_ParseTuple(args, "UnLU:configure", &synthetic, &max_id_len, &max_count, &family)) return NULL;
    Py_XSETREF(cfg_synthetic, Py_NewRef(synthetic));
    Py_XSETREF(cfg_family, Py_NewRef(family));
    cfg_max_id_len = max_id_len;
    cfg_max_count = max_count;
    Py_RETURN_NONE;
}

/* scan(data, max_line) -> (lines, entries): the transcript prefilter over a whole file. */
static PyObject *scan(PyObject *Py_UNUSED(module), PyObject *args) {
    Py_buffer view;
    Py_ssize_t max_line;
    if (!PyArg_ParseTuple(args, "y*n:scan", &view, &max_line)) return NULL;
    const unsigned char *p = (const unsigned char *)view.buf, *end = p + view.len;
    Py_ssize_t lines = 0;
    PyObject *entries = PyList_New(0);
    if (entries == NULL) goto error;
    while (p < end) {
        const unsigned char *stop = memchr(p, '\n', end - p);
        if (stop == NULL) stop = end;
        if (!blank_line(p, stop)) {
            lines++;
            /* The line as file_lines gives it: without the "\r"s before the line break. */
            const unsigned char *line_end = stop;
            while (line_end > p && line_end[-1] == '\r') line_end--;
            long kind = 0;
            if (has(p, stop, "usage", 5) && has(p, stop, "assistant", 9)) {
                kind = CANDIDATE;
            } else if (has(p, stop, "\\u", 2)) {
                kind = ESCAPED;
            }
            if (kind) {
                PyObject *obj;
                if (kind == CANDIDATE && stop - p <= max_line) {
                    obj = pruned_line(p, stop);
                    if (obj == NULL) goto error;
                    if (obj != Py_None) {
                        PyObject *reading = plain(obj);
                        if (reading != NULL) {
                            Py_SETREF(obj, reading);
                            kind = PLAIN;
                        } else if (PyErr_Occurred()) {
                            Py_DECREF(obj);
                            goto error;
                        }
                    }
                } else {
                    obj = Py_NewRef(Py_None);
                }
                PyObject *entry = Py_BuildValue("(lnnN)", kind, (Py_ssize_t)(p - (const unsigned char *)view.buf),
                                                (Py_ssize_t)(line_end - (const unsigned char *)view.buf), obj);
                if (entry == NULL) goto error;
                int appended = PyList_Append(entries, entry);
                Py_DECREF(entry);
                if (appended < 0) goto error;
            }
        }
        p = stop + 1;
    }
    PyBuffer_Release(&view);
    return Py_BuildValue("(nN)", lines, entries);
error:
    Py_XDECREF(entries);
    PyBuffer_Release(&view);
    return NULL;
}

static PyObject *spec(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(unused)) {
    PyObject *top = PyTuple_New(N_TOP), *message = PyTuple_New(N_MESSAGE);
    if (top == NULL || message == NULL) {
        Py_XDECREF(top);
        Py_XDECREF(message);
        return NULL;
    }
    for (size_t i = 0; i < N_TOP; i++) PyTuple_SET_ITEM(top, i, Py_NewRef(top_keys[i].key));
    for (size_t i = 0; i < N_MESSAGE; i++) PyTuple_SET_ITEM(message, i, Py_NewRef(message_keys[i].key));
    return Py_BuildValue("(NN)", top, message);
}

static PyMethodDef methods[] = {
    {"load", load, METH_VARARGS,
     "load(data, start, end) -> dict | None\n\n"
     "The line data[start:end] decoded and pruned to the transcript's accounting keys, or None\n"
     "when the line is not certainly what orjson would decode (then decode it with orjson)."},
    {"scan", scan, METH_VARARGS,
     "scan(data, max_line) -> (lines, entries)\n\n"
     "The transcript prefilter over a whole file: lines counts the non-blank lines (as\n"
     "file_lines gives them); entries lists the lines to decode, in order, as\n"
     "(kind, start, end, obj): kind 1 holds 'usage' and 'assistant' (obj: load() of it, None\n"
     "when declined or longer than max_line), kind 3 is such a line read by plain() (obj:\n"
     "plain_response's tuple), kind 2 holds a \\u escape (obj: None).\n"
     "data[start:end] is the line without its line break and the '\\r's before it."},
    {"plain", plain_py, METH_O,
     "plain(obj) -> tuple | None\n\n"
     "claude_transcript.plain_response(obj) for a load()ed line when certain, else None\n"
     "(then ask plain_response). Needs configure() first; declines everything before."},
    {"configure", configure, METH_VARARGS,
     "configure(synthetic_model, max_id_len, max_count, family): plain()'s constants."},
    {"spec", spec, METH_NOARGS, "spec() -> (top-level keys kept, message keys kept)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "schemas._pruned_json", "Validated, pruned decoding of transcript lines.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__pruned_json(void) {
    for (size_t i = 0; i < N_TOP; i++) {
        if ((top_keys[i].key = PyUnicode_InternFromString(top_keys[i].name)) == NULL) return NULL;
    }
    for (size_t i = 0; i < N_MESSAGE; i++) {
        if ((message_keys[i].key = PyUnicode_InternFromString(message_keys[i].name)) == NULL) return NULL;
    }
    for (size_t i = 0; i < N_USAGE_KEYS; i++) {
        if ((usage_keys[i] = PyUnicode_InternFromString(usage_names[i])) == NULL) return NULL;
    }
    if ((str_assistant = PyUnicode_InternFromString("assistant")) == NULL) return NULL;
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    return PyModule_Create(&module_def);
}
