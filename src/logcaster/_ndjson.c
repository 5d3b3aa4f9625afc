/* JSON records of matching lines, one per line: the HTTP API's NDJSON and SSE.
 *
 * encode_records() writes, for every line of a block's match spans,
 *
 *     <head>{"time":"2026-12-01T19:00:59.917121123Z","line":"...","level":"ERROR"}<tail>
 *
 * with the GIL released: the receive time of the line's chunk as RFC 3339 in
 * UTC with nanoseconds, the line JSON-escaped as Python's json.dumps(...,
 * ensure_ascii=False) escapes the text bytes.decode("utf-8", "replace") gives
 * (each maximal invalid UTF-8 subpart becomes one U+FFFD, as CPython's decoder
 * does), the level of levels.level_of when the line has one, then any extra
 * string fields: (name, starts, ends) arrays, one (start, end) offset pair into
 * the same buffer per line, -1 where the line has no such field. The pure-Python
 * twin is logcaster.ndjson.py_encode_records; tests compare the two.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char *const LEVEL_NAMES[] = {"",     "TRACE", "DEBUG",    "INFO",  "NOTICE", "WARN",
                                          "ERROR", "CRITICAL", "FATAL", "ALERT", "EMERG"};
#define NLEVELS ((int)(sizeof(LEVEL_NAMES) / sizeof(LEVEL_NAMES[0])))
/* the bytes of ,"level":"NAME" for each code (0: none) */
#define ESCAPED 0x80 /* a line's code | this: the line has bytes to escape */
static const unsigned char LEVEL_FIELD[] = {0, 16, 16, 15, 17, 15, 16, 19, 16, 16, 16};
#define TIME_LEN 30 /* 2026-12-01T19:00:59.917121123Z */

typedef struct {
    long long start, end; /* a line, without its newline */
} line_span;

typedef struct {
    Py_buffer name, starts, ends;
    const long long *s, *e;
} extra_field;

static inline long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static inline char *
put_digits(char *d, long long v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        d[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return d + width;
}

/* ts (ns since the epoch, any int64: years 1677..2262) as RFC 3339, UTC, ns. */
static void
put_time(char *d, long long ts)
{
    long long secs = floor_div(ts, 1000000000LL), ns = ts - secs * 1000000000LL;
    long long days = floor_div(secs, 86400), sod = secs - days * 86400;
    /* civil_from_days (H. Hinnant) */
    long long z = days + 719468;
    long long era = floor_div(z, 146097);
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long day = doy - (153 * mp + 2) / 5 + 1;
    long long month = mp < 10 ? mp + 3 : mp - 9;
    y += month <= 2;
    d = put_digits(d, y, 4);
    *d++ = '-';
    d = put_digits(d, month, 2);
    *d++ = '-';
    d = put_digits(d, day, 2);
    *d++ = 'T';
    d = put_digits(d, sod / 3600, 2);
    *d++ = ':';
    d = put_digits(d, sod / 60 % 60, 2);
    *d++ = ':';
    d = put_digits(d, sod % 60, 2);
    *d++ = '.';
    d = put_digits(d, ns, 9);
    *d = 'Z';
}

static const char HEX[] = "0123456789abcdef";

/* Length of the valid UTF-8 sequence at s[0:n] (s[0] >= 0x80), or -(the length
 * of its maximal invalid subpart), as CPython's decoder cuts it. */
static inline int
utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0xC2 || c > 0xF4)
        return -1;
    if (c < 0xE0)
        return (n > 1 && (s[1] & 0xC0) == 0x80) ? 2 : -1;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (n < 2 || s[1] < lo || s[1] > hi)
        return -1;
    if (n < 3 || (s[2] & 0xC0) != 0x80)
        return -2;
    if (c < 0xF0)
        return 3;
    if (n < 4 || (s[3] & 0xC0) != 0x80)
        return -3;
    return 4;
}

/* s[0:n] as the body of a JSON string (no quotes) at d; returns the new end.
 * Writes at most 6 * n bytes. */
static char *
escape(char *d, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
#if defined(__SSE2__)
        const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                      bslash = _mm_set1_epi8('\\');
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            /* signed: bytes < 0x20 and >= 0x80 both compare below 0x20 */
            __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, space),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, quote),
                                                    _mm_cmpeq_epi8(v, bslash)));
            unsigned mask = (unsigned)_mm_movemask_epi8(bad);
            _mm_storeu_si128((__m128i *)d, v);
            if (mask == 0) {
                d += 16;
                i += 16;
                continue;
            }
            unsigned k = (unsigned)__builtin_ctz(mask);
            d += k;
            i += k;
            break;
        }
        if (i >= n)
            break;
#endif
        unsigned char c = s[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            *d++ = (char)c;
            i++;
            continue;
        }
        if (c >= 0x80) {
            int len = utf8_seq(s + i, n - i);
            if (len > 0) {
                memcpy(d, s + i, (size_t)len);
                d += len;
                i += (size_t)len;
            } else {
                *d++ = (char)0xEF;
                *d++ = (char)0xBF;
                *d++ = (char)0xBD;
                i += (size_t)-len;
            }
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        default:
            *d++ = 'u';
            *d++ = '0';
            *d++ = '0';
            *d++ = HEX[c >> 4];
            *d++ = HEX[c & 15];
        }
        i++;
    }
    return d;
}

/* escape() for the other C sources (_fields.c's record pieces). */
char *
lc_json_escape(char *d, const unsigned char *s, size_t n)
{
    return escape(d, s, n);
}

/* The end of the line starting at p (its newline, or NULL when the line runs to e),
 * adding to *special an upper bound of the line's bytes that escape() writes other
 * than as themselves (control characters, '"', '\\', bytes >= 0x80): 0 exactly
 * when there are none, and the escaped line is at most n + 5 * that long. */
static inline const char *
scan_line(const char *p, const char *e, Py_ssize_t *special)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t n = (size_t)(e - p), i = 0;
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  bslash = _mm_set1_epi8('\\'), newline = _mm_set1_epi8('\n');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned nl = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline));
        /* signed: bytes < 0x20 and >= 0x80 both compare below 0x20 */
        unsigned bad = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmplt_epi8(v, space),
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash))));
        if (nl) {
            unsigned k = (unsigned)__builtin_ctz(nl);
            if (bad & ((1u << k) - 1))
                *special += 16;
            return p + i + k;
        }
        if (bad)
            *special += 16;
    }
#endif
    for (; i < n; i++) {
        unsigned char c = s[i];
        if (c == '\n')
            return p + i;
        *special += c < 0x20 || c >= 0x80 || c == '"' || c == '\\';
    }
    return NULL;
}

static inline char *
put(char *d, const void *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

/* One record for the line s[0:n] (no newline), the k-th of the call, of level `code`;
 * `escaped`: the line has bytes to escape (else it is copied as it is). */
static char *
record(char *d, const char *line, size_t n, const char *stamp, int code, int escaped,
       const Py_buffer *head, const Py_buffer *tail, const char *base, const extra_field *extras,
       Py_ssize_t nextras, Py_ssize_t k, const char *pieces, const long long *pb)
{
    d = put(d, head->buf, (size_t)head->len);
    d = put(d, "{\"time\":\"", 9);
    d = put(d, stamp, TIME_LEN);
    d = put(d, "\",\"line\":\"", 10);
    d = escaped ? escape(d, (const unsigned char *)line, n) : put(d, line, n);
    *d++ = '"';
    if (code > 0) {
        d = put(d, ",\"level\":\"", 10);
        d = put(d, LEVEL_NAMES[code], (size_t)LEVEL_FIELD[code] - 11);
        *d++ = '"';
    }
    for (Py_ssize_t x = 0; x < nextras; x++) {
        long long fs = extras[x].s[k], fe = extras[x].e[k];
        if (fs < 0)
            continue;
        d = put(d, ",\"", 2);
        d = escape(d, extras[x].name.buf, (size_t)extras[x].name.len);
        d = put(d, "\":\"", 3);
        d = escape(d, (const unsigned char *)base + fs, (size_t)(fe - fs));
        *d++ = '"';
    }
    if (pieces != NULL && pb[2 * k] >= 0)
        d = put(d, pieces + pb[2 * k], (size_t)(pb[2 * k + 1] - pb[2 * k]));
    *d++ = '}';
    return put(d, tail->buf, (size_t)tail->len);
}

static void
release_extras(extra_field *extras, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        PyBuffer_Release(&extras[i].name);
        PyBuffer_Release(&extras[i].starts);
        PyBuffer_Release(&extras[i].ends);
    }
    PyMem_Free(extras);
}

/* The extra fields of `seq` (a tuple of (name, starts, ends)), checked against
 * `lines` and the buffer's length; NULL with an exception set on error. */
static extra_field *
get_extras(PyObject *seq, Py_ssize_t lines, Py_ssize_t buflen, Py_ssize_t *count)
{
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "extras must be a tuple of (name, starts, ends)");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(seq);
    extra_field *out = PyMem_Calloc((size_t)n + 1, sizeof(extra_field));
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(seq, i), *name, *starts, *ends;
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "OOO", &name, &starts, &ends)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "extras must be a tuple of (name, starts, ends)");
            release_extras(out, i);
            return NULL;
        }
        extra_field *f = &out[i];
        if (PyObject_GetBuffer(name, &f->name, PyBUF_SIMPLE) < 0) {
            release_extras(out, i);
            return NULL;
        }
        if (PyObject_GetBuffer(starts, &f->starts, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&f->name);
            release_extras(out, i);
            return NULL;
        }
        if (PyObject_GetBuffer(ends, &f->ends, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&f->name);
            PyBuffer_Release(&f->starts);
            release_extras(out, i);
            return NULL;
        }
        f->s = f->starts.buf;
        f->e = f->ends.buf;
        Py_ssize_t want = lines * (Py_ssize_t)sizeof(long long);
        int bad = f->starts.len != want || f->ends.len != want;
        for (Py_ssize_t k = 0; !bad && k < lines; k++)
            bad = f->s[k] >= 0 && (f->e[k] < f->s[k] || f->e[k] > buflen);
        if (bad) {
            PyErr_SetString(PyExc_ValueError,
                            "an extra field needs one (start, end) in the buffer per line");
            release_extras(out, i + 1);
            return NULL;
        }
    }
    *count = n;
    return out;
}

/* encode_records(buf, spans, offs, stamps, head, tail, descending=False, extras=(),
 * pieces=None) -> bytes. pieces: (text, bounds), text written as it is after the
 * extras of line k from bounds[2k] to bounds[2k + 1] (nothing when bounds[2k] < 0):
 * the record pieces of _fields.c's record_fields. Lines are those of the ascending array('q') spans [s, e, ...], each
 * ending at its newline or at its span's end; the line at offset x was received
 * at stamps[c], c the last chunk with offs[c] <= x (0 when none). */
PyObject *
lc_encode_records(PyObject *self, PyObject *args)
{
    PyObject *obj, *spans_obj, *offs_obj, *stamps_obj, *extras_obj = NULL, *pieces_obj = NULL;
    Py_buffer ptext = {0}, pbounds = {0};
    int have_pieces = 0;
    Py_buffer view, spans, offs, stamps, head, tail;
    int descending = 0;
    PyObject *result = NULL;
    extra_field *extras = NULL;
    Py_ssize_t nextras = 0;
    unsigned char *codes = NULL;
    line_span *at = NULL;
    char *scratch = NULL;
    if (!PyArg_ParseTuple(args, "OOOOy*y*|pOO", &obj, &spans_obj, &offs_obj, &stamps_obj, &head,
                          &tail, &descending, &extras_obj, &pieces_obj))
        return NULL;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        goto out_framing;
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_SIMPLE) < 0)
        goto out_view;
    if (PyObject_GetBuffer(offs_obj, &offs, PyBUF_SIMPLE) < 0)
        goto out_spans;
    if (PyObject_GetBuffer(stamps_obj, &stamps, PyBUF_SIMPLE) < 0)
        goto out_offs;
    const long long *sp = spans.buf, *of = offs.buf, *ts = stamps.buf;
    const char *src = view.buf;
    Py_ssize_t pairs = spans.len / (Py_ssize_t)(2 * sizeof(long long));
    Py_ssize_t nchunks = offs.len / (Py_ssize_t)sizeof(long long);
    if (nchunks < 1 || stamps.len != offs.len) {
        PyErr_SetString(PyExc_ValueError, "offs and stamps: one entry per chunk, at least one");
        goto out_stamps;
    }
    for (Py_ssize_t i = 0; i < pairs; i++) {
        long long s = sp[2 * i], e = sp[2 * i + 1];
        if (s < 0 || e < s || e > view.len || (i && s < sp[2 * i - 1])) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer or out of order");
            goto out_stamps;
        }
    }
    /* One pass over the lines: where each is, its level, and the records' size if
     * no line needs escaping (`special` counts the bytes that do). */
    Py_ssize_t lines = 0, cap = 0, special = 0, size = 0, nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < pairs && !nomem; i++) {
        const char *p = src + sp[2 * i], *e = src + sp[2 * i + 1];
        while (p < e) {
            if (lines == cap) {
                cap = cap ? 2 * cap : 1024;
                line_span *more = PyMem_RawRealloc(at, (size_t)cap * sizeof(line_span));
                unsigned char *more_codes = more ? PyMem_RawRealloc(codes, (size_t)cap) : NULL;
                if (more != NULL)
                    at = more;
                if (more_codes == NULL) {
                    nomem = 1;
                    break;
                }
                codes = more_codes;
            }
            Py_ssize_t was = special;
            const char *nl = scan_line(p, e, &special);
            const char *end = nl ? nl : e;
            int code = lc_level_code((const unsigned char *)p, (size_t)(end - p));
            code = code > 0 && code < NLEVELS ? code : 0;
            at[lines].start = p - src;
            at[lines].end = end - src;
            codes[lines++] = (unsigned char)(code | (special > was ? ESCAPED : 0));
            size += (end - p) + LEVEL_FIELD[code];
            p = nl ? nl + 1 : e;
        }
    }
    Py_END_ALLOW_THREADS
    if (nomem) {
        PyErr_NoMemory();
        goto out_extras;
    }
    size += lines * (head.len + tail.len + 9 + TIME_LEN + 10 + 2);
    if (extras_obj != NULL) {
        extras = get_extras(extras_obj, lines, view.len, &nextras);
        if (extras == NULL)
            goto out_extras;
    }
    if (pieces_obj != NULL && pieces_obj != Py_None) {
        PyObject *text_obj, *bounds_obj;
        if (!PyTuple_Check(pieces_obj) ||
            !PyArg_ParseTuple(pieces_obj, "OO", &text_obj, &bounds_obj)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError, "pieces must be (text, bounds)");
            goto out_extras;
        }
        if (PyObject_GetBuffer(text_obj, &ptext, PyBUF_SIMPLE) < 0)
            goto out_extras;
        if (PyObject_GetBuffer(bounds_obj, &pbounds, PyBUF_SIMPLE) < 0) {
            PyBuffer_Release(&ptext);
            goto out_extras;
        }
        have_pieces = 1;
        const long long *pb = pbounds.buf;
        int bad = pbounds.len != lines * 2 * (Py_ssize_t)sizeof(long long);
        for (Py_ssize_t k = 0; !bad && k < lines; k++) {
            if (pb[2 * k] < 0)
                continue;
            bad = pb[2 * k + 1] < pb[2 * k] || pb[2 * k + 1] > ptext.len;
            size += pb[2 * k + 1] - pb[2 * k];
        }
        if (bad) {
            PyErr_SetString(PyExc_ValueError, "pieces need one (start, end) in the text per line");
            goto out_extras;
        }
    }
    Py_ssize_t bound = size + 5 * special;
    for (Py_ssize_t x = 0; x < nextras; x++) {
        bound += lines * (6 * extras[x].name.len + 6);
        for (Py_ssize_t j = 0; j < lines; j++)
            if (extras[x].s[j] >= 0)
                bound += 6 * (Py_ssize_t)(extras[x].e[j] - extras[x].s[j]);
    }
    /* Exact: written in place. Else into a scratch buffer, then copied: shrinking a
     * large bytes object in place costs fresh pages on every call. */
    int exact = bound == size;
    char *out;
    if (exact) {
        result = PyBytes_FromStringAndSize(NULL, size);
        if (result == NULL)
            goto out_extras;
        out = PyBytes_AS_STRING(result);
    } else if ((out = scratch = PyMem_RawMalloc((size_t)bound + 1)) == NULL) {
        PyErr_NoMemory();
        goto out_extras;
    }
    char *d = out;
    Py_BEGIN_ALLOW_THREADS
    char stamp[TIME_LEN];
    Py_ssize_t stamped = -1, c = descending ? nchunks - 1 : 0;
    for (Py_ssize_t j = 0; j < lines; j++) {
        Py_ssize_t k = descending ? lines - 1 - j : j;
        long long ls = at[k].start;
        if (descending)
            while (c > 0 && of[c] > ls)
                c--;
        else
            while (c + 1 < nchunks && of[c + 1] <= ls)
                c++;
        if (c != stamped) {
            put_time(stamp, ts[c]);
            stamped = c;
        }
        d = record(d, src + ls, (size_t)(at[k].end - ls), stamp, codes[k] & ~ESCAPED,
                   codes[k] & ESCAPED, &head, &tail, src, extras, nextras, k,
                   have_pieces ? ptext.buf : NULL, have_pieces ? pbounds.buf : NULL);
    }
    Py_END_ALLOW_THREADS
    if (!exact)
        result = PyBytes_FromStringAndSize(out, d - out);
    else if (d - out != size) { /* cannot happen: the sizes are computed as written */
        Py_CLEAR(result);
        PyErr_SetString(PyExc_SystemError, "encode_records: record size mismatch");
    }
out_extras:
    if (have_pieces) {
        PyBuffer_Release(&ptext);
        PyBuffer_Release(&pbounds);
    }
    PyMem_RawFree(scratch);
    PyMem_RawFree(codes);
    PyMem_RawFree(at);
    if (extras != NULL)
        release_extras(extras, nextras);
out_stamps:
    PyBuffer_Release(&stamps);
out_offs:
    PyBuffer_Release(&offs);
out_spans:
    PyBuffer_Release(&spans);
out_view:
    PyBuffer_Release(&view);
out_framing:
    PyBuffer_Release(&head);
    PyBuffer_Release(&tail);
    return result;
}
