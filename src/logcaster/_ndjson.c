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
 * does), the level of levels.level_of when the line has one, then the line's
 * parsed fields (_fields.c's lc_piece_read and lc_piece_write, read as the record
 * is written), into a caller's bytearray that is reused from one call to the next
 * (no fresh pages per reply). The pure-Python twin is
 * logcaster.ndjson.py_encode_records (its fields from logcaster.records.py_fields_piece);
 * tests compare the two.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static const char *const LEVEL_NAMES[] = {"",     "TRACE", "DEBUG",    "INFO",  "NOTICE", "WARN",
                                          "ERROR", "CRITICAL", "FATAL", "ALERT", "EMERG"};
#define NLEVELS ((int)(sizeof(LEVEL_NAMES) / sizeof(LEVEL_NAMES[0])))
/* the bytes of ,"level":"NAME" for each code (0: none) */
#define ESCAPED 0x80 /* a line's code | this: the line has bytes to escape */
static const unsigned char LEVEL_FIELD[] = {0, 16, 16, 15, 17, 15, 16, 19, 16, 16, 16};
#define TIME_LEN 30 /* 2026-12-01T19:00:59.917121123Z */
/* a line's closing quote and its ,"level":"NAME" (the names above), padded to 32
 * bytes: copied as two blocks */
static const char LEVEL_TAIL[][32] = {
    "\"",                       "\",\"level\":\"TRACE\"", "\",\"level\":\"DEBUG\"",
    "\",\"level\":\"INFO\"",     "\",\"level\":\"NOTICE\"", "\",\"level\":\"WARN\"",
    "\",\"level\":\"ERROR\"",    "\",\"level\":\"CRITICAL\"", "\",\"level\":\"FATAL\"",
    "\",\"level\":\"ALERT\"",    "\",\"level\":\"EMERG\""};
#define PRE_CAP 64 /* head to ","line":" as four blocks (a head of 15 bytes at most) */

typedef struct {
    long long start, end; /* a line, without its newline */
} line_span;

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

#if defined(__x86_64__)
/* For each set of the 8 bytes of a half block that are '"' or '\\' (a bit each): the
 * shuffle that spreads the 8 to 8 + its count, a 0x80 (zero, then '\\') before each
 * one of the set (lc_escape_init). */
static unsigned char EXPAND[256][16] __attribute__((aligned(16)));

void
lc_escape_init(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned j = 0;
        for (unsigned k = 0; k < 8; k++) {
            if (m >> k & 1)
                EXPAND[m][j++] = 0x80;
            EXPAND[m][j++] = (unsigned char)k;
        }
        while (j < 16)
            EXPAND[m][j++] = 0x80;
    }
}

/* The first `count` (at most 8) of the low 8 bytes of v with a backslash before
 * each of the set m (bits below count); 16 bytes stored at d, count + |m| of them
 * the escape's. */
__attribute__((target("ssse3,popcnt"))) static inline char *
expand8(char *d, __m128i v, unsigned m, unsigned count)
{
    __m128i sh = _mm_load_si128((const __m128i *)EXPAND[m]);
    __m128i slots = _mm_cmplt_epi8(sh, _mm_setzero_si128()); /* 0x80: zero */
    __m128i out = _mm_or_si128(_mm_shuffle_epi8(v, sh), _mm_and_si128(slots, _mm_set1_epi8('\\')));
    _mm_storeu_si128((__m128i *)d, out);
    return d + count + (unsigned)__builtin_popcount(m);
}

/* escape() over the 16-byte blocks from s[*at] whose only bytes to escape are '"'
 * and '\\' (a JSON line's quotes, a quoted logfmt value's), each half block
 * written by one shuffle instead of a store per quote; stops at the first block
 * holding another (a control character, a byte >= 0x80). The last bytes (fewer
 * than 16) too when the 16 from them may be read (before `lim`). Writes at most
 * 32 bytes a block, 2 * k + 16 for the last k: within escape()'s 6 a byte (and
 * its 15 more with `lim`). */
__attribute__((target("ssse3,popcnt"))) static char *
quoted_blocks(char *d, const unsigned char *s, size_t n, size_t *at, const unsigned char *lim)
{
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'),
                  bslash = _mm_set1_epi8('\\');
    size_t i = *at;
    while (i < n) {
        size_t left = n - i;
        unsigned keep = 0xFFFF;
        if (left < 16) {
            if (lim == NULL || (size_t)(lim - (s + i)) < 16)
                break;
            keep = (1u << left) - 1;
        }
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        if ((unsigned)_mm_movemask_epi8(_mm_cmplt_epi8(v, space)) & keep) /* < 0x20, >= 0x80 */
            break;
        unsigned q = (unsigned)_mm_movemask_epi8(
                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash))) &
                     keep;
        if (left < 16) {
            d = expand8(d, v, q & 0xFF, left < 8 ? (unsigned)left : 8);
            if (left > 8)
                d = expand8(d, _mm_srli_si128(v, 8), q >> 8, (unsigned)left - 8);
            i = n;
            break;
        }
        if (q == 0) {
            _mm_storeu_si128((__m128i *)d, v);
            d += 16;
        } else {
            d = expand8(d, v, q & 0xFF, 8);
            d = expand8(d, _mm_srli_si128(v, 8), q >> 8, 8);
        }
        i += 16;
    }
    *at = i;
    return d;
}
#endif

/* s[0:n] as the body of a JSON string (no quotes) at d; returns the new end.
 * Writes at most 6 * n bytes, and up to 15 more (overwritten by what follows) when
 * the bytes before `lim` may be read 16 at a time: the bytes between two quotes of
 * a JSON line are then copied as one 16-byte block each, not by a copy that
 * branches on their length (NULL: never). */
static char *
escape(char *d, const unsigned char *s, size_t n, const unsigned char *lim)
{
    size_t i = 0;
    while (i < n) {
#if defined(__x86_64__)
        if (lc_has_avx2) /* SSSE3 with it */
            d = quoted_blocks(d, s, n, &i, lim);
#endif
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
            unsigned qb = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
            if (qb == mask && lim != NULL && (size_t)(lim - (s + i)) >= 32) {
                /* the same, each run between two quotes as a 16-byte block */
                unsigned from = (unsigned)__builtin_ctz(qb);
                d += from;
                while (qb) {
                    unsigned at = (unsigned)__builtin_ctz(qb);
                    qb &= qb - 1;
                    _mm_storeu_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)(s + i + from)));
                    d += at - from;
                    *d++ = '\\';
                    *d++ = (char)s[i + at];
                    from = at + 1;
                }
                _mm_storeu_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)(s + i + from)));
                d += 16 - from;
                i += 16;
                continue;
            }
            if (qb == mask) { /* only '"' and '\\' (a JSON line's quotes): each gets a
                               * backslash here, the 16 bytes are not read again */
                unsigned from = (unsigned)__builtin_ctz(qb);
                d += from;
                while (qb) {
                    unsigned at = (unsigned)__builtin_ctz(qb);
                    qb &= qb - 1;
                    d = lc_put(d, s + i + from, at - from);
                    *d++ = '\\';
                    *d++ = (char)s[i + at];
                    from = at + 1;
                }
                d = lc_put(d, s + i + from, 16 - from);
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
    return escape(d, s, n, NULL);
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

#if defined(__x86_64__)
/* scan_line, 32 bytes at a time where the CPU has AVX2 (a line of ~100 bytes in 4
 * steps, not 7; the encoder ~3% faster on benchmarks/workload.py lines), the last
 * step a whole block too when the bytes up to lim are readable (not the line's
 * last bytes one at a time: ~70 instructions a record). */
__attribute__((target("avx2"))) static inline const char *
scan_line_avx2(const char *p, const char *e, const char *lim, Py_ssize_t *special)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t n = (size_t)(e - p), i = 0;
    const __m256i space = _mm256_set1_epi8(0x20), quote = _mm256_set1_epi8('"'),
                  bslash = _mm256_set1_epi8('\\'), newline = _mm256_set1_epi8('\n');
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        unsigned nl = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, newline));
        /* signed: bytes < 0x20 and >= 0x80 both compare below 0x20 */
        unsigned bad = (unsigned)_mm256_movemask_epi8(_mm256_or_si256(
            _mm256_cmpgt_epi8(space, v),
            _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash))));
        if (nl) {
            unsigned k = (unsigned)__builtin_ctz(nl);
            if (bad & ((1u << k) - 1)) /* k < 32: nl has a bit */
                *special += 32;
            return p + i + k;
        }
        if (bad)
            *special += 32;
    }
    if (i < n && (size_t)(lim - p) >= i + 32) { /* the rest as one block, read past e */
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        unsigned keep = (1u << (n - i)) - 1; /* n - i < 32: the bytes before e */
        unsigned nl = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, newline)) & keep;
        unsigned bad = (unsigned)_mm256_movemask_epi8(_mm256_or_si256(
                           _mm256_cmpgt_epi8(space, v),
                           _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)))) &
                       keep;
        if (nl) {
            unsigned k = (unsigned)__builtin_ctz(nl);
            if (bad & ((1u << k) - 1))
                *special += 32;
            return p + i + k;
        }
        if (bad)
            *special += 32;
        return NULL;
    }
    return scan_line(p + i, e, special);
}
#endif

static inline char *
put(char *d, const void *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

/* Copy the `k` 16-byte blocks at s to d (k a constant: unrolled). */
static inline void
put_blocks(char *d, const char *s, int k)
{
#if defined(__SSE2__)
    for (int i = 0; i < k; i++)
        _mm_storeu_si128((__m128i *)(d + 16 * i), _mm_loadu_si128((const __m128i *)(s + 16 * i)));
#else
    memcpy(d, s, (size_t)k * 16);
#endif
}

/* encode_records(out, at, buf, spans, offs, stamps, head, tail, descending, unsure) -> end:
 * the records of the lines of the ascending array('q') spans [s, e, ...] (each line
 * ending at its newline or at its span's end), with their parsed fields, written
 * into the bytearray `out` from offset `at` (grown when short, never shrunk; the
 * bytes past the returned end are left as they were). The line at offset x was
 * received at stamps[c], c the last chunk with offs[c] <= x (0 when none). A line
 * whose fields _fields.c leaves to the Python reference gets its record without
 * them, and (where they go in out, the line's start, its end) appended to the
 * array('q') `unsure`, in the order of out. The lines are read once, with the GIL
 * released: the record is written as the fields are read. */
#define PREFETCH_SPANS 8                      /* how far ahead the line scan fetches */
#define RECORD_FIXED (9 + TIME_LEN + 10 + 2) /* {"time":"...","line":"..."} */
#define LEVEL_MAX 19                          /* ,"level":"CRITICAL" */
#define BATCH_LINES 128 /* ascending: lines found, then written, so many at a time */

/* Where the lines are (src readable up to lim): spans sp[2 * i], sp[2 * i + 1] for
 * i in [*span, pairs), from offset *at in the first (-1: its start); each line's
 * start, end, level and whether
 * it needs escaping, appended to where/codes (grown as needed) until `most` lines
 * are there. *span and *at say where the next call goes on. -1 when out of memory,
 * else the number of lines. No GIL needed. */
typedef struct {
    line_span *where;
    unsigned char *codes;
    Py_ssize_t cap;
} line_table;

__attribute__((always_inline)) static inline Py_ssize_t
find_lines_with(line_table *t, const char *src, const char *lim, const long long *sp,
                Py_ssize_t pairs, Py_ssize_t *span, long long *at, Py_ssize_t most,
                const int wide)
{
    Py_ssize_t lines = 0;
    Py_ssize_t i = *span;
    for (; i < pairs && lines < most; i++) {
        const char *p = src + (*at >= 0 ? *at : sp[2 * i]), *e = src + sp[2 * i + 1];
        *at = -1;
        if (i + PREFETCH_SPANS < pairs) { /* the matches are scattered: fetch ahead */
            const char *ahead = src + sp[2 * (i + PREFETCH_SPANS)];
            __builtin_prefetch(ahead);
            __builtin_prefetch(ahead + 64);
            __builtin_prefetch(ahead + 128);
        }
        while (p < e) {
            if (lines == most) {
                *at = p - src; /* the rest of this span next time */
                *span = i;
                return lines;
            }
            if (lines == t->cap) {
                Py_ssize_t cap = t->cap ? 2 * t->cap : 1024;
                line_span *more = PyMem_RawRealloc(t->where, (size_t)cap * sizeof(line_span));
                if (more == NULL)
                    return -1;
                t->where = more;
                unsigned char *more_codes = PyMem_RawRealloc(t->codes, (size_t)cap);
                if (more_codes == NULL)
                    return -1;
                t->codes = more_codes;
                t->cap = cap;
            }
            Py_ssize_t special = 0;
#if defined(__x86_64__)
            const char *nl =
                wide ? scan_line_avx2(p, e, lim, &special) : scan_line(p, e, &special);
#else
            const char *nl = scan_line(p, e, &special);
#endif
            const char *end = nl ? nl : e;
            int code = lc_level_code((const unsigned char *)p, (size_t)(end - p));
            code = code > 0 && code < NLEVELS ? code : 0;
            t->where[lines].start = p - src;
            t->where[lines].end = end - src;
            t->codes[lines++] = (unsigned char)(code | (special ? ESCAPED : 0));
            p = nl ? nl + 1 : e;
        }
    }
    *span = i;
    return lines;
}

#if defined(__x86_64__)
__attribute__((target("avx2"))) static Py_ssize_t
find_lines_avx2(line_table *t, const char *src, const char *lim, const long long *sp,
                Py_ssize_t pairs, Py_ssize_t *span, long long *at, Py_ssize_t most)
{
    return find_lines_with(t, src, lim, sp, pairs, span, at, most, 1);
}
#endif

static Py_ssize_t
find_lines(line_table *t, const char *src, const char *lim, const long long *sp, Py_ssize_t pairs,
           Py_ssize_t *span, long long *at, Py_ssize_t most)
{
#if defined(__x86_64__)
    if (lc_has_avx2)
        return find_lines_avx2(t, src, lim, sp, pairs, span, at, most);
#endif
    return find_lines_with(t, src, lim, sp, pairs, span, at, most, 0);
}

PyObject *
lc_encode_records(PyObject *self, PyObject *args)
{
    PyObject *out_obj, *obj, *spans_obj, *offs_obj, *stamps_obj, *unsure_obj;
    Py_ssize_t at;
    Py_buffer view, spans, offs, stamps, head, tail;
    int descending = 0;
    PyObject *result = NULL;
    Py_ssize_t *unsure = NULL, nunsure = 0, capu = 0;
    lc_rline *L = NULL;
    if (!PyArg_ParseTuple(args, "OnOOOOy*y*pO", &out_obj, &at, &obj, &spans_obj, &offs_obj,
                          &stamps_obj, &head, &tail, &descending, &unsure_obj))
        return NULL;
    if (!PyByteArray_Check(out_obj)) {
        PyErr_SetString(PyExc_TypeError, "out must be a bytearray");
        goto out_framing;
    }
    if (at < 0 || at > PyByteArray_GET_SIZE(out_obj)) {
        PyErr_SetString(PyExc_ValueError, "at outside out");
        goto out_framing;
    }
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
    /* First where each line is, its level and whether it needs escaping, then one
     * record per line: newest first (descending), every line is found first;
     * oldest first, BATCH_LINES at a time, so that each line is still in cache
     * when its record is written. */
    line_table t = {NULL, NULL, 0};
    Py_ssize_t lines = 0, next_span = 0;
    long long next_at = -1;
    int nomem = 0;
    Py_BEGIN_ALLOW_THREADS
    lines = find_lines(&t, src, src + view.len, sp, pairs, &next_span, &next_at,
                       descending ? PY_SSIZE_T_MAX : BATCH_LINES);
    if (lines < 0 || (L = lc_rline_new()) == NULL)
        nomem = 1;
    Py_END_ALLOW_THREADS
    if (nomem) {
        PyErr_NoMemory();
        goto out_lines;
    }
    /* + 16: the pieces' short copies may write up to 16 bytes past their end (the
     * next record's bytes; not the last record's) */
    const size_t fixed = (size_t)(head.len + tail.len) + RECORD_FIXED + LEVEL_MAX + 16;
    lc_piece_bounds(L, (const unsigned char *)src, (const unsigned char *)src + view.len);
    lc_piece_readable(L, (const unsigned char *)src + view.len);
    /* What every record of a chunk starts with, head to ","line":" (its stamp
     * written once per chunk), padded to 64 bytes: copied as four blocks when it
     * fits (the record's room holds the padding; not the last record, after which
     * nothing is written). */
    char pre[PRE_CAP] = {0}, stamp[TIME_LEN];
    const size_t pl = (size_t)head.len + 9 + TIME_LEN + 10;
    const int pre_blocks = pl <= PRE_CAP;
    if (pre_blocks) {
        memcpy(pre, head.buf, (size_t)head.len);
        memcpy(pre + head.len, "{\"time\":\"", 9);
        memcpy(pre + pl - 10, "\",\"line\":\"", 10);
    }
    Py_ssize_t j = 0, pos = at, stamped = -1, c = descending ? nchunks - 1 : 0;
    int last = 0; /* the last line is found */
    for (;;) {
        Py_buffer ob;
        if (PyObject_GetBuffer(out_obj, &ob, PyBUF_WRITABLE) < 0)
            goto out_lines;
        char *base = ob.buf;
        size_t room = ob.len > pos ? (size_t)(ob.len - pos) : 0, need = 0;
        Py_BEGIN_ALLOW_THREADS
        for (;; j++) {
            if (j == lines) {
                if (next_span >= pairs)
                    break;
                lines = find_lines(&t, src, src + view.len, sp, pairs, &next_span, &next_at, BATCH_LINES);
                j = 0;
                if (lines <= 0) {
                    nomem = lines < 0;
                    break;
                }
            }
            if (!last && next_span >= pairs && j + 1 == lines) {
                last = 1; /* the last record: nothing written past its end */
                lc_piece_bounds(L, NULL, NULL);
            }
            Py_ssize_t k = descending ? lines - 1 - j : j;
            long long ls = t.where[k].start;
            if (j + PREFETCH_SPANS < lines) { /* fetch the lines ahead */
                Py_ssize_t a = descending ? k - PREFETCH_SPANS : k + PREFETCH_SPANS;
                const char *ahead = src + t.where[a].start;
                __builtin_prefetch(ahead);
                __builtin_prefetch(ahead + 64);
            }
            const unsigned char *line = (const unsigned char *)src + ls;
            unsigned char lc = t.codes[k];
            size_t n = (size_t)(t.where[k].end - ls), piece = 0;
            int r = lc_piece_read(L, line, n, !(lc & ESCAPED), &piece), code = lc & ~ESCAPED;
            if (r == LC_PIECE_NOMEM) {
                nomem = 1;
                break;
            }
            /* a JSON object's numeric level (only a line starting with '{' or a space may
             * hold one) */
            int json_level = n && (line[0] == '{' || line[0] <= ' ') ? lc_piece_level(L, line, n)
                                                                     : LC_LEVEL_TOKENS,
                level_left = 0;
            if (json_level >= 0 && json_level < NLEVELS)
                code = json_level; /* a JSON line's numeric level, not its tokens' */
            else if (json_level == LC_LEVEL_UNSURE) { /* to Python, with the fields */
                code = 0;
                level_left = 1;
                r = LC_PIECE_UNSURE;
            }
            need = fixed + ((lc & ESCAPED) ? 6 * n : n) + piece;
            if (need > room)
                break;
            if (r == LC_PIECE_UNSURE && nunsure + 3 > capu) {
                capu = capu ? 2 * capu : 96;
                Py_ssize_t *more = realloc(unsure, (size_t)capu * sizeof(Py_ssize_t));
                if (more == NULL) {
                    nomem = 1;
                    break;
                }
                unsure = more;
            }
            if (descending)
                while (c > 0 && of[c] > ls)
                    c--;
            else
                while (c + 1 < nchunks && of[c + 1] <= ls)
                    c++;
            if (c != stamped) {
                put_time(stamp, ts[c]);
                memcpy(pre + head.len + 9, stamp, TIME_LEN);
                stamped = c;
            }
            char *d = base + pos;
            if (pre_blocks && !last) {
                put_blocks(d, pre, PRE_CAP / 16);
                d += pl;
                /* the line 16 bytes at a time when the bytes after it are the block's */
                d = (lc & ESCAPED) ? escape(d, line, n, (const unsigned char *)src + view.len)
                    : view.len - ls - (long long)n >= 16 ? lc_put_over(d, line, n)
                                                          : put(d, line, n);
                put_blocks(d, LEVEL_TAIL[code], 2); /* the line's '"' and its level */
                d += code > 0 ? 1 + LEVEL_FIELD[code] : 1;
            } else {
                d = lc_put(d, head.buf, (size_t)head.len);
                d = put(d, "{\"time\":\"", 9);
                d = put(d, stamp, TIME_LEN);
                d = put(d, "\",\"line\":\"", 10);
                d = (lc & ESCAPED) ? escape(d, line, n, NULL) : put(d, line, n);
                *d++ = '"';
                if (code > 0) {
                    d = put(d, ",\"level\":\"", 10);
                    d = lc_put(d, LEVEL_NAMES[code], (size_t)LEVEL_FIELD[code] - 11);
                    *d++ = '"';
                }
            }
            if (r == LC_PIECE_OK)
                d = lc_piece_write(L, d);
            else { /* where the reference's piece goes (-1 - it: its level too) */
                unsure[nunsure++] = level_left ? -1 - (d - base) : d - base;
                unsure[nunsure++] = (Py_ssize_t)ls;
                unsure[nunsure++] = (Py_ssize_t)ls + (Py_ssize_t)n;
            }
            *d++ = '}';
            d = lc_put(d, tail.buf, (size_t)tail.len);
            room -= (size_t)(d - (base + pos));
            pos = d - base;
        }
        Py_END_ALLOW_THREADS
        Py_ssize_t had = ob.len;
        PyBuffer_Release(&ob);
        if (nomem) {
            PyErr_NoMemory();
            goto out_lines;
        }
        if (j == lines || lines <= 0)
            break;
        /* short of room: twice the size, or what the record needs */
        Py_ssize_t grow = had > (Py_ssize_t)need ? had : (Py_ssize_t)need;
        if (PyByteArray_Resize(out_obj, pos + grow) < 0)
            goto out_lines;
    }
    if (lc_flush_spans(unsure_obj, unsure, nunsure) == 0)
        result = PyLong_FromSsize_t(pos);
    unsure = NULL;
out_lines:
    free(unsure);
    lc_rline_free(L);
    PyMem_RawFree(t.codes);
    PyMem_RawFree(t.where);
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
