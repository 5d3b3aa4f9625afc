/* Shared between the C sources of logcaster._speedups. */
#ifndef LOGCASTER_SPEEDUPS_H
#define LOGCASTER_SPEEDUPS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* A growable output buffer of the body scanners (_json.c, _lokiproto.c, _otlpproto.c).
 * `most`: when not 0, the most bytes of lines it may hold once a line is ended
 * (lc_json_end_line then fails and sets `over`): what one request may store. */
typedef struct {
    unsigned char *buf;
    size_t len, cap;
    size_t most;
    int over;
} lc_out;
#define LC_TOO_LARGE 3 /* a body scanner's answer when its lines pass `most` */

/* Room for `more` bytes at o's end (no GIL needed); -1 when out of memory. */
static inline int
lc_out_reserve(lc_out *o, size_t more)
{
    if (o->len + more <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more)
        cap *= 2;
    unsigned char *b = realloc(o->buf, cap);
    if (b == NULL)
        return -1;
    o->buf = b;
    o->cap = cap;
    return 0;
}

/* s[0:n] appended to o; -1 when out of memory. */
static inline int
lc_out_put(lc_out *o, const void *s, size_t n)
{
    if (lc_out_reserve(o, n) < 0)
        return -1;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

/* The code point c (at most 0x10FFFF) as UTF-8 on o; -1 when out of memory. */
static inline int
lc_put_utf8(lc_out *o, uint32_t c)
{
    unsigned char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (unsigned char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (unsigned char)(0xC0 | (c >> 6));
        b[1] = (unsigned char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (unsigned char)(0xE0 | (c >> 12));
        b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (unsigned char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | (c >> 18));
        b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (unsigned char)(0x80 | (c & 0x3F));
        n = 4;
    }
    return lc_out_put(o, b, n);
}

/* The value of a hex digit, -1 for any other byte. */
static inline int
lc_hexval(unsigned c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* With the GIL held (_outblock.c): an empty lc_out on a kept buffer if there is one
 * (its pages already touched), else on none yet. */
void lc_out_take(lc_out *o);

/* With the GIL held: o's buffer kept for the next lc_out_take (or freed); o emptied. */
void lc_out_give(lc_out *o);

/* With the GIL held: o's bytes as a read-only memoryview owning the buffer, which is
 * kept again once the view and every view of it are gone (empty: b""); o emptied.
 * NULL with an exception set on error (the buffer given back). */
PyObject *lc_out_view(lc_out *o);

/* Readies the type behind lc_out_view; -1 on error. */
int lc_out_init(void);

/* keep_freed_memory(trim, mmap) (_outblock.c). */
PyObject *lc_keep_freed_memory(PyObject *self, PyObject *args);

/* Whether the CPU runs AVX2 (read once when the module loads; 0 off x86-64). */
extern int lc_has_avx2;
/* The shuffle tables of _ndjson.c's JSON string escape; once, at import. */
void lc_escape_init(void);

/* 1 if s[0:n] is valid UTF-8 as Python's strict decoder reads it (SIMD; _utf8.c). */
int lc_utf8_check(const unsigned char *s, size_t n);

/* Newlines in p[0:n] (SIMD where the CPU has it; _stamped.c). */
Py_ssize_t lc_count_newlines(const unsigned char *p, size_t n);

/* First occurrence of needle[0:k] in s[0:n], or NULL (SIMD; see _speedups.c). */
const char *lc_find_literal(const char *s, size_t n, const char *needle, size_t k);

/* Append one (start, end) span to a growable array, joining it to the last one
 * when adjacent; -1 when out of memory. */
int lc_add_span(Py_ssize_t **spans, Py_ssize_t *nspans, Py_ssize_t *cap, Py_ssize_t s,
                Py_ssize_t e);

/* Move spans[0:nspans] onto the end of the array('q') `out` and free them. */
int lc_flush_spans(PyObject *out, Py_ssize_t *spans, Py_ssize_t nspans);

/* The end of a line scan: the spans go to `out` (or are freed when the scan ran out of
 * memory: `nomem`), and the number of lines found is returned as a Python int. */
PyObject *lc_spans_result(PyObject *out, Py_ssize_t *spans, Py_ssize_t nspans, int nomem,
                          Py_ssize_t count);

/* A search: the first hit in p[0:n] (by the state `ctx`), or NULL. */
typedef const unsigned char *(*lc_finder)(const void *ctx, const unsigned char *p, size_t n);

/* The lines of obj's buffer [start, end) that hold a hit of `find`: their spans are
 * appended to the array('q') `out` and their number returned (NULL on error). The scan
 * runs with the GIL released. */
PyObject *lc_scan_hits(PyObject *obj, Py_ssize_t start, Py_ssize_t end, lc_finder find,
                       const void *ctx, PyObject *out);

/* ASCII lower case of a byte (other bytes unchanged), and whether it is an ASCII letter. */
static inline unsigned char
lc_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static inline int
lc_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Copy s[0:n] to d; the new end. Pieces of a record are mostly a few bytes (a key,
 * a value, a level name): those are copied inline by two overlapping loads and
 * stores, no call into the library's memcpy (a fifth of a short record's time). */
static inline char *
lc_put(char *d, const void *src, size_t n)
{
    const unsigned char *s = src;
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        unsigned long long a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        unsigned a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else if (n) {
        d[0] = (char)s[0];
        d[n / 2] = (char)s[n / 2];
        d[n - 1] = (char)s[n - 1];
    }
    return d + n;
}

/* Copy s[0:n] to d 16 bytes at a time, the last step whole: reads up to 15 bytes
 * past s + n and writes as many past d + n (the caller has them: the bytes after a
 * line in its block, the room of the record). One loop, not libc's dispatch on the
 * length, for the ~100-byte lines of a record. */
static inline char *
lc_put_over(char *d, const unsigned char *s, size_t n)
{
#if defined(__SSE2__)
    for (size_t i = 0; i < n; i += 16)
        _mm_storeu_si128((__m128i *)(d + i), _mm_loadu_si128((const __m128i *)(s + i)));
    return d + n;
#else
    return lc_put(d, s, n);
#endif
}

/* The line of the region [p, e) that holds `hit`: its start, and its end past the
 * newline (or e). */
static inline void
lc_line_around(const unsigned char *p, const unsigned char *e, const unsigned char *hit,
               const unsigned char **ls, const unsigned char **le)
{
    const unsigned char *nl = hit > p ? memrchr(p, '\n', (size_t)(hit - p)) : NULL;
    *ls = nl ? nl + 1 : p;
    nl = memchr(hit, '\n', (size_t)(e - hit));
    *le = nl ? nl + 1 : e;
}

/* Several literals searched in one pass (_anyof.c). Exact literals are referenced
 * (the caller keeps them alive); ASCII case-insensitive ones are copied, lowered. */
#define LC_ANY_MAX 16
#define LC_ANY_OWN 16 /* the longest case-insensitive literal */
typedef struct {
    int n, icase;
    size_t k[LC_ANY_MAX], maxk, at1[LC_ANY_MAX], at2[LC_ANY_MAX];
    const unsigned char *s[LC_ANY_MAX];
    unsigned char first[LC_ANY_MAX], last[LC_ANY_MAX], fmask[LC_ANY_MAX], lmask[LC_ANY_MAX];
    unsigned char own[LC_ANY_MAX][LC_ANY_OWN];
} lc_anyof;

/* 0, or -1 when there are none or more than LC_ANY_MAX, or one is empty (or, case
 * insensitive, longer than LC_ANY_OWN). */
int lc_anyof_init(lc_anyof *a, const char *const *lits, const size_t *lens, int n, int icase);

/* The earliest position in p[0:n] where one of the literals starts (whole), or NULL. */
const unsigned char *lc_anyof_find(const lc_anyof *a, const unsigned char *p, size_t n);

/* The level code of the line s[0:n] (no newline), as levels.level_of (_filters.c). */
int lc_level_code(const unsigned char *s, size_t n);


/* The level code of a syslog PRI at the start of s[0:n] (<0>..<191>, no leading zeros:
 * the level of severity PRI & 7), as level_code reads it; 0 for none. Bytes past the
 * line's end may follow: a newline ends the PRI too. */
static inline int
lc_pri_code(const unsigned char *s, size_t n)
{
    /* syslog severity (PRI & 7) -> level code (logcaster.query.levels.LEVEL_CODES) */
    static const int severity[8] = {10, 9, 7, 6, 5, 4, 3, 2};
    if (n >= 3 && s[0] == '<' && s[1] >= '0' && s[1] <= '9') {
        size_t i = 1;
        int value = 0;
        while (i < n && i <= 4 && s[i] >= '0' && s[i] <= '9')
            value = value * 10 + (s[i++] - '0');
        size_t digits = i - 1;
        if (i < n && s[i] == '>' && digits <= 3 && value <= 191 && !(digits > 1 && s[1] == '0'))
            return severity[value & 7];
    }
    return 0;
}

/* The literals, ASCII case-insensitive, of which a line whose level code has its bit set
 * in `mask` holds one: a level word of a wanted level, a JSON "level" key, or a
 * newline and '<' before it (a syslog PRI; the region's first line is checked apart).
 * -1 when lines without a level are wanted (bit 0). */
int lc_level_words(unsigned long mask, lc_anyof *a);

/* The lines that may have a level of a set, found by one SIMD pass (_levelscan.c). */
#define LC_LV_MAX (LC_ANY_MAX + 1)
typedef struct {
    lc_anyof words;  /* lc_level_words(mask) */
    unsigned long mask;
    int n, key, pri; /* literals (0: every line is read); the "level" key's, the PRI's */
    const unsigned char *s[LC_LV_MAX]; /* the words, "\"level\"", "\n<" and "\\" */
    size_t k[LC_LV_MAX];
    unsigned char c[LC_LV_MAX][3], off[LC_LV_MAX][3]; /* the words' SIMD bytes */
} lc_levelscan;

/* 0, or -1 when every line must be read (no AVX2, lines without a level wanted). The
 * struct must not be copied after (it points into itself). */
int lc_levelscan_init(lc_levelscan *L, unsigned long mask);

/* The start of the first line of [p, e) (p a line start) whose level may be in the
 * mask: any other line before it has another level. NULL when there is none. */
const unsigned char *lc_levelscan_next(const lc_levelscan *L, const unsigned char *p,
                                       const unsigned char *e);

/* A growable scratch buffer (_fields.c); {NULL, 0} to start, free(buf) at the end. */
typedef struct {
    unsigned char *buf;
    size_t cap;
} lc_scratch;

/* host_of, app_of and facility_of of the line s[0:n] (no newline), as _fields.c reads
 * them: v[k] (k = 0 host, 1 app, 2 facility) NULL when absent, else vn[k] bytes that
 * stay valid until sc[k] is used again. Returns 1 when some value was left undecided
 * (v[k] NULL; the caller asks the Python reference), else 0. */
int lc_line_fields(const unsigned char *s, size_t n, lc_scratch sc[3], const unsigned char *v[3],
                   size_t vn[3]);

PyObject *lc_native_columns(PyObject *self, PyObject *args); /* _native.c */
PyObject *lc_filter_lines(PyObject *self, PyObject *args);
PyObject *lc_gather_stamped(PyObject *self, PyObject *args); /* _stamped.c */
PyObject *lc_stamp_into(PyObject *self, PyObject *args);
PyObject *lc_covered(PyObject *self, PyObject *args);
PyObject *lc_line_level(PyObject *self, PyObject *args);
PyObject *lc_split_frames(PyObject *self, PyObject *args); /* _frames.c */
PyObject *lc_encode_records(PyObject *self, PyObject *args);
/* s[0:n] as the body of a JSON string at d (at most 6 * n bytes), as json.dumps(...,
 * ensure_ascii=False) writes s.decode("utf-8", "replace"); the new end (_ndjson.c). */
char *lc_json_escape(char *d, const unsigned char *s, size_t n);

/* The parsed fields of a line as the piece of its HTTP API record that follows
 * "level" (_fields.c): lc_piece_read() reads the line s[0:n] (no newline) into L and
 * sets *room to an upper bound of its piece; LC_PIECE_UNSURE when the line is left to
 * the Python reference. `plain_line`: the line holds no byte JSON escapes (control,
 * '"', '\\', >= 0x80), so neither does any of its fields (copied as they are).
 * lc_piece_write() then writes the piece at d and returns the new end. One lc_rline
 * per thread at a time. */
typedef struct lc_rline lc_rline;
enum { LC_PIECE_OK = 0, LC_PIECE_UNSURE = 1, LC_PIECE_NOMEM = 2 };
/* After lc_piece_read of the line s[0:n]: its level code as the engine reads it when
 * that is not its tokens' (lc_level_code): a JSON line's numeric `level`, 0-7 as
 * syslog severities (fieldscan._level); LC_LEVEL_TOKENS for its tokens'; and
 * LC_LEVEL_UNSURE where Python must decide (a float `level`). */
enum { LC_LEVEL_TOKENS = -1, LC_LEVEL_UNSURE = -2, LC_LEVEL_READ = -3 };
int lc_piece_level(lc_rline *L, const unsigned char *s, size_t n);
lc_rline *lc_rline_new(void);
void lc_rline_free(lc_rline *L);
int lc_piece_read(lc_rline *L, const unsigned char *s, size_t n, int plain_line,
                  size_t *room);
char *lc_piece_write(const lc_rline *L, char *d);
/* The bytes [lo, hi) the lines read are in, all readable: lc_piece_write() may then
 * copy a short name or value found there as 16 bytes (up to 16 past the piece's
 * room written). */
void lc_piece_bounds(lc_rline *L, const unsigned char *lo, const unsigned char *hi);
/* The end of the bytes the lines read are in, all readable from each line on: the
 * logfmt pairs of a line are then found in bit masks of whole 64-byte blocks. */
void lc_piece_readable(lc_rline *L, const unsigned char *end);
PyObject *lc_native_strings(PyObject *self, PyObject *args); /* _native.c */
PyObject *lc_field_lines(PyObject *self, PyObject *args);
PyObject *lc_field_values(PyObject *self, PyObject *args);
PyObject *lc_level_lines(PyObject *self, PyObject *args);
PyObject *lc_utf8_valid(PyObject *self, PyObject *args);
PyObject *lc_find_lines_icase(PyObject *self, PyObject *args);
PyObject *lc_prefix_lines(PyObject *self, PyObject *args);
PyObject *lc_find_lines_spelled(PyObject *self, PyObject *args);

/* HTTP ingestion bodies (_json.c). */
PyObject *lc_ndjson_scan(PyObject *self, PyObject *args);
PyObject *lc_loki_json_scan(PyObject *self, PyObject *args);
void lc_json_init(void);
PyObject *lc_bulk_scan(PyObject *self, PyObject *args); /* _bulk.c */

/* _json.c's validator and writers, for the other body scanners. JSON whitespace
 * as Python's json module reads it: the first byte of [p, e) that is not. */
static inline const unsigned char *
lc_json_ws(const unsigned char *p, const unsigned char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}
/* 1 if s[0:n] (valid UTF-8) is all str.isspace() characters. */
int lc_json_blank(const unsigned char *s, size_t n);
/* 1 if [s, e) is one JSON object, whitespace around it allowed; *deep set when the
 * Python parsers must decide (nesting too deep, an integer too long for int()). */
int lc_json_object_line(const unsigned char *s, const unsigned char *e, int *deep);
/* The end of the JSON value at p (nested `depth` deep already), NULL if invalid;
 * *deep as above. */
const unsigned char *lc_json_value(const unsigned char *p, const unsigned char *e, int depth,
                                   int *deep);
/* p just past a string's opening quote: p past its closing one, NULL if invalid. */
const unsigned char *lc_json_string_end(const unsigned char *p, const unsigned char *e);
/* The contents [s, e) of a validated JSON string re-encoded on an lc_out as
 * json.dumps(ensure_ascii=False) writes it; 0 or -1 when out of memory. */
int lc_json_put_string(void *out, const unsigned char *s, const unsigned char *e);
PyObject *lc_loki_proto_labels(PyObject *self, PyObject *args); /* _lokiproto.c */
PyObject *lc_loki_proto_scan(PyObject *self, PyObject *args);
PyObject *lc_otlp_logs_scan(PyObject *self, PyObject *args); /* _otlpproto.c */
PyObject *lc_otlp_json_scan(PyObject *self, PyObject *args);
/* OTLP JSON logs in body[0:n] rewritten as protobuf wire format on `wire` (no GIL
 * needed): 0, or -1 when the Python readers must decide (or out of memory) (_otlpjson.c). */
int lc_otlp_json_wire(const unsigned char *body, size_t n, lc_out *wire);

/* The JSON writers of _json.c, on an lc_out (GIL not needed; plain bytes go through
 * lc_out_put above): each returns -1 when out of memory. lc_json_put_text writes
 * valid UTF-8 text as the inside of a JSON string, as json.dumps(ensure_ascii=False)
 * does; lc_json_end_line ends the line that started at `start`, cut to max_line
 * bytes + "..." (counted in *truncated) if longer; lc_json_put_record writes
 * {"_msg":"<text>"<sfx>} and ends its line. */
int lc_json_utf8_valid(const unsigned char *s, size_t n);
int lc_json_put_text(void *out, const unsigned char *s, size_t n);
int lc_json_end_line(void *out, size_t start, size_t max_line, Py_ssize_t *truncated);
int lc_json_put_record(void *out, const unsigned char *s, size_t n, const unsigned char *sfx,
                       size_t sn, size_t max_line, Py_ssize_t *truncated);

/* x as json.dumps writes a float (repr; NaN, Infinity, -Infinity) at d (at least
 * LC_FLOAT_ROOM bytes); the new end (_floatrepr.c). lc_float_init() once, GIL held. */
#define LC_FLOAT_ROOM 32
char *lc_float_repr(char *d, double x);
/* The number in text (NUL-terminated) read in the C locale, as strtod reads it. */
double lc_float_parse(const char *text);
int lc_float_init(void);

/* ------------------------------------------------ protobuf wire format */

/* A byte range [s, e) of a message being read. */
typedef struct {
    const unsigned char *s, *e;
} lc_span;

/* A varint at *pp (at most ten bytes, the tenth 0 or 1), *pp moved past it; -1 when
 * truncated or over-long. */
static inline int
lc_pb_varint(const unsigned char **pp, const unsigned char *e, uint64_t *v)
{
    uint64_t x = 0;
    const unsigned char *p = *pp;
    for (int i = 0; i < 10; i++) {
        if (p >= e)
            return -1;
        unsigned b = *p++;
        if (i == 9 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *v = x;
            return 0;
        }
    }
    return -1;
}

/* One field at *pp: its number and wire type; its value in *v (a varint, or the
 * 8 or 4 bytes of a fixed64 or fixed32, little-endian) or, for wire type 2, its
 * length and its payload in *span (else empty); *pp moved past it. -1 for anything this reader refuses: a
 * truncated field, field number 0, groups (wire types 3 and 4), wire types 6 and 7. */
static inline int
lc_pb_field(const unsigned char **pp, const unsigned char *e, uint32_t *num, unsigned *wt,
            uint64_t *v, lc_span *span)
{
    uint64_t tag;
    const unsigned char *p = *pp;
    if (lc_pb_varint(&p, e, &tag) < 0 || p - *pp > 5 || (tag >> 3) == 0 ||
        (tag >> 3) > 0x1FFFFFFF)
        return -1;
    *num = (uint32_t)(tag >> 3);
    *wt = (unsigned)(tag & 7);
    span->s = span->e = p; /* empty unless wire type 2 */
    switch (*wt) {
    case 0:
        if (lc_pb_varint(&p, e, v) < 0)
            return -1;
        break;
    case 1:
        if (e - p < 8)
            return -1;
        *v = 0;
        for (int i = 7; i >= 0; i--)
            *v = *v << 8 | p[i];
        p += 8;
        break;
    case 5:
        if (e - p < 4)
            return -1;
        *v = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
        p += 4;
        break;
    case 2: {
        const unsigned char *at = p;
        if (lc_pb_varint(&p, e, v) < 0 || p - at > 5 || *v > (uint64_t)(e - p))
            return -1; /* a length over five bytes: refused too */
        span->s = p;
        span->e = p + *v;
        p += *v;
        break;
    }
    default:
        return -1;
    }
    *pp = p;
    return 0;
}

#endif
