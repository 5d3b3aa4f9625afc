/* JSON scanners of the HTTP ingestion bodies, GIL released.
 *
 * ndjson_scan checks that every line of an NDJSON body is one JSON object (by
 * the rules of Python's json module: NaN and Infinity allowed, no raw control
 * characters in strings) and returns the lines to store; loki_json_scan reads
 * a Loki JSON push and writes {"_msg":<line>,<labels>...} lines directly,
 * re-encoding every string the way json.dumps(ensure_ascii=False) does.
 *
 * Both return an int instead of a result when the Python parsers must decide:
 * 1 when the body is not valid UTF-8 (the caller replaces the bad sequences
 * as the Python path does, and calls again), 2 for anything else outside the
 * plain case (nesting deeper than MAX_DEPTH, an integer longer than Python's
 * int() reads; for Loki any malformed part, non-string label or metadata
 * values, duplicate keys). The Python parsers in logcaster/inputs/payloads are
 * the reference; tests compare the two. The validator and the string writers
 * are shared with _bulk.c (the lc_json_* functions at the end).
 */
#include "_speedups.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define MAX_DEPTH 200
#define MAX_INT_DIGITS 4300
#define BAD_UTF8 1
#define FALLBACK 2

typedef const unsigned char *cp;

/* ------------------------------------------------------------------ UTF-8 */

/* 1 if s[0:n] is valid UTF-8 as Python's strict decoder reads it. */
static inline int
utf8_valid(cp s, size_t n)
{
    return lc_utf8_check(s, n);
}

/* 1 if the (valid UTF-8) line s[0:n] holds only characters str.isspace() accepts. */
static int
py_blank(cp s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F)) {
            i++;
            continue;
        }
        if (c == 0xC2 && i + 1 < n && (s[i + 1] == 0x85 || s[i + 1] == 0xA0)) {
            i += 2;
            continue;
        }
        if (i + 2 < n) {
            unsigned c1 = s[i + 1], c2 = s[i + 2];
            if ((c == 0xE1 && c1 == 0x9A && c2 == 0x80) ||
                (c == 0xE2 && c1 == 0x80 &&
                 (c2 <= 0x8A || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF)) ||
                (c == 0xE2 && c1 == 0x81 && c2 == 0x9F) ||
                (c == 0xE3 && c1 == 0x80 && c2 == 0x80)) {
                i += 3;
                continue;
            }
        }
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------- validation */

typedef struct {
    cp end;
    int deep; /* set when MAX_DEPTH was passed, or an integer has over MAX_INT_DIGITS */
} Scan;

static inline cp
skip_ws(cp p, cp e)
{
    return lc_json_ws(p, e);
}



/* 1 for bytes that end a plain run inside a string: '"', '\\', controls. */
static unsigned char special[256];

#ifdef __SSE2__
/* The bytes of v that are '"', '\\' or a control character, as bits. */
static inline unsigned
special16(__m128i v)
{
    const __m128i space = _mm_set1_epi8(' ');
    /* unsigned v < 0x20: max(v, 0x20) == 0x20 and v != 0x20 */
    __m128i ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, space),
                                   _mm_cmpeq_epi8(_mm_max_epu8(v, space), space));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        ctl));
}
#endif

/* The first byte of p[0:e] that is '"', '\\' or a control character, or e:
 * sixteen bytes at a time where SSE2 is there. */
static inline cp
next_special(cp p, cp e)
{
#ifdef __SSE2__
    while (e - p >= 16) {
        unsigned mask = special16(_mm_loadu_si128((const __m128i *)p));
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif
    while (p < e && !special[*p])
        p++;
    return p;
}

/* p just past the opening quote; returns p past the closing one, or NULL. */
static cp
scan_string(cp p, cp e)
{
    for (;;) {
        p = next_special(p, e);
        if (p >= e)
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p != '\\')
            return NULL; /* a raw control character */
        if (p + 1 >= e)
            return NULL;
        unsigned c = p[1];
        if (c == 'u') {
            if (p + 6 > e || lc_hexval(p[2]) < 0 || lc_hexval(p[3]) < 0 || lc_hexval(p[4]) < 0 ||
                lc_hexval(p[5]) < 0)
                return NULL;
            p += 6;
        }
        else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                 c == 'r' || c == 't')
            p += 2;
        else
            return NULL;
    }
}

/* A number as Python's scanner reads it; *is_int says no fraction/exponent. */
static cp
scan_number(cp p, cp e, int *is_int)
{
    *is_int = 1;
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return NULL;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    else
        return NULL;
    if (p + 1 < e && *p == '.' && p[1] >= '0' && p[1] <= '9') {
        *is_int = 0;
        p += 2;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        cp q = p + 1;
        if (q < e && (*q == '+' || *q == '-'))
            q++;
        if (q < e && *q >= '0' && *q <= '9') {
            while (q < e && *q >= '0' && *q <= '9')
                q++;
            *is_int = 0;
            p = q;
        }
    }
    return p;
}

static inline int
literal(cp p, cp e, const char *word, size_t n)
{
    return (size_t)(e - p) >= n && memcmp(p, word, n) == 0;
}

static cp scan_value(cp p, cp e, int depth, Scan *s);

static cp
scan_object(cp p, cp e, int depth, Scan *s)
{
    /* p just past '{' */
    p = skip_ws(p, e);
    if (p < e && *p == '}')
        return p + 1;
    for (;;) {
        if (p >= e || *p != '"')
            return NULL;
        p = scan_string(p + 1, e);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return NULL;
        p = scan_value(skip_ws(p + 1, e), e, depth, s);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == '}')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, e);
    }
}

static cp
scan_array(cp p, cp e, int depth, Scan *s)
{
    p = skip_ws(p, e);
    if (p < e && *p == ']')
        return p + 1;
    for (;;) {
        p = scan_value(p, e, depth, s);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == ']')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, e);
    }
}

/* One value at p (no leading whitespace); returns p past it, or NULL. */
static cp
scan_value(cp p, cp e, int depth, Scan *s)
{
    int is_int;
    if (p >= e)
        return NULL;
    switch (*p) {
    case '"':
        return scan_string(p + 1, e);
    case '{':
    case '[':
        if (depth >= MAX_DEPTH) {
            s->deep = 1;
            return NULL;
        }
        return *p == '{' ? scan_object(p + 1, e, depth + 1, s)
                         : scan_array(p + 1, e, depth + 1, s);
    case 't':
        return literal(p, e, "true", 4) ? p + 4 : NULL;
    case 'f':
        return literal(p, e, "false", 5) ? p + 5 : NULL;
    case 'n':
        return literal(p, e, "null", 4) ? p + 4 : NULL;
    case 'N':
        return literal(p, e, "NaN", 3) ? p + 3 : NULL;
    case 'I':
        return literal(p, e, "Infinity", 8) ? p + 8 : NULL;
    case '-':
        if (literal(p, e, "-Infinity", 9))
            return p + 9;
        /* fall through */
    default: {
        cp q = scan_number(p, e, &is_int);
        /* Python's int() refuses more digits than sys.get_int_max_str_digits()
         * (4300 by default): the Python parsers decide such a body. */
        if (q != NULL && is_int && q - p - (*p == '-') > MAX_INT_DIGITS) {
            s->deep = 1;
            return NULL;
        }
        return q;
    }
    }
}

/* 1 if [p, e) is one JSON object, whitespace around it allowed; *deep set (and
 * 0 returned) when the Python parsers must decide (see Scan). */
static int
object_line(cp p, cp e, int *deep)
{
    Scan sc = {e, 0};
    cp q = skip_ws(p, e);
    if (q >= e || *q != '{')
        return 0;
    cp after = scan_object(q + 1, e, 1, &sc);
    *deep = sc.deep;
    return after != NULL && skip_ws(after, e) == e;
}

/* ---------------------------------------------------------- output buffer */

typedef lc_out Out;

/* The shared output buffer's writers (_speedups.h). */
#define out_reserve lc_out_reserve
#define out_put lc_out_put

/* End the line that started at `start`: cut it to max_line bytes + "..." if
 * longer, then '\n'. */
static int
out_end_line(Out *o, size_t start, size_t max_line, Py_ssize_t *truncated)
{
    if (o->len - start > max_line) {
        o->len = start + max_line;
        (*truncated)++;
        if (out_put(o, "...", 3) < 0)
            return -1;
    }
    if (o->most && o->len + 1 > o->most) {
        o->over = 1; /* the request would store more than it may */
        return -1;
    }
    return out_put(o, "\n", 1);
}

/* ------------------------------------------------------------ ndjson_scan */

typedef struct {
    Py_ssize_t lines, malformed, truncated;
    Py_ssize_t bad_start, bad_end; /* the first malformed line */
    int changed;                   /* the block differs from the body */
    int status;                    /* 0, BAD_UTF8, FALLBACK, -1 (no memory) */
} NdResult;

static void
ndjson_run(cp body, size_t n, size_t max_line, Out *o, NdResult *r)
{
    if (!utf8_valid(body, n)) {
        r->status = BAD_UTF8;
        return;
    }
    cp p = body, e = body + n;
    while (p < e) {
        cp nl = memchr(p, '\n', (size_t)(e - p));
        cp le = nl ? nl : e;
        cp stop = le;
        while (stop > p && stop[-1] == '\r')
            stop--;
        int deep = 0, good = object_line(p, stop, &deep);
        if (deep) {
            r->status = FALLBACK;
            return;
        }
        /* Lines are written out only from the first one stored otherwise than as it
         * came (the body is the block until then): then what came before is copied. */
        int as_is = good && stop == le && nl != NULL && (size_t)(stop - p) <= max_line;
        if (!as_is && !r->changed) {
            r->changed = 1;
            if (out_put(o, body, (size_t)(p - body)) < 0) {
                r->status = -1;
                return;
            }
        }
        if (good) {
            size_t start = o->len;
            if (r->changed && (out_put(o, p, (size_t)(stop - p)) < 0 ||
                               out_end_line(o, start, max_line, &r->truncated) < 0)) {
                r->status = -1;
                return;
            }
            r->lines++;
        }
        else {
            if (!py_blank(p, (size_t)(le - p))) {
                if (!r->malformed) {
                    r->bad_start = p - body;
                    r->bad_end = stop - body;
                }
                r->malformed++;
            }
        }
        p = nl ? nl + 1 : e;
    }
}

/* ndjson_scan(body, max_line) -> (block, lines, truncated, malformed, bad_start,
 * bad_end) or an int status (BAD_UTF8, FALLBACK). */
static PyObject *
ndjson_scan(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t max_line;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "On", &obj, &max_line))
        return NULL;
    if (max_line < 0) {
        PyErr_SetString(PyExc_ValueError, "max_line < 0");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    Out o;
    lc_out_take(&o);
    NdResult r = {0, 0, 0, -1, -1, 0, 0};
    Py_BEGIN_ALLOW_THREADS
    ndjson_run((cp)view.buf, (size_t)view.len, (size_t)max_line, &o, &r);
    Py_END_ALLOW_THREADS
    PyObject *res = NULL;
    if (r.status == -1)
        PyErr_NoMemory();
    else if (r.status)
        res = PyLong_FromLong(r.status);
    else {
        PyObject *block;
        /* Unchanged: the body itself, bytes or a view (the HTTP frontend's reused
         * receive buffer, which it keeps until the block is stored). */
        if (!r.changed && (PyBytes_CheckExact(obj) || PyMemoryView_Check(obj))) {
            Py_INCREF(obj);
            block = obj;
        }
        else if (!r.changed) /* nothing was written: a copy of the body */
            block = PyBytes_FromStringAndSize((const char *)view.buf, view.len);
        else
            block = lc_out_view(&o);
        if (block != NULL)
            res = Py_BuildValue("(Nnnnnn)", block, r.lines, r.truncated, r.malformed,
                                r.bad_start, r.bad_end);
    }
    lc_out_give(&o);
    PyBuffer_Release(&view);
    return res;
}

/* ---------------------------------------------------------- string output */

static const char HEX[] = "0123456789abcdef";



/* One code point as json.dumps(ensure_ascii=False) writes it inside a string,
 * a lone surrogate as the \udXXX escape str.encode("utf-8", "backslashreplace")
 * gives. */
static int
put_char(Out *o, uint32_t c)
{
    char esc[6] = {'\\', 'u', '0', '0', 0, 0};
    switch (c) {
    case '"':
        return out_put(o, "\\\"", 2);
    case '\\':
        return out_put(o, "\\\\", 2);
    case '\b':
        return out_put(o, "\\b", 2);
    case '\f':
        return out_put(o, "\\f", 2);
    case '\n':
        return out_put(o, "\\n", 2);
    case '\r':
        return out_put(o, "\\r", 2);
    case '\t':
        return out_put(o, "\\t", 2);
    default:
        break;
    }
    if (c < 0x20 || (c >= 0xD800 && c <= 0xDFFF)) {
        esc[2] = HEX[(c >> 12) & 0xF];
        esc[3] = HEX[(c >> 8) & 0xF];
        esc[4] = HEX[(c >> 4) & 0xF];
        esc[5] = HEX[c & 0xF];
        return out_put(o, esc, 6);
    }
    return lc_put_utf8(o, c);
}

static inline uint32_t
hex4(cp p)
{
    return (uint32_t)(lc_hexval(p[0]) << 12 | lc_hexval(p[1]) << 8 | lc_hexval(p[2]) << 4 | lc_hexval(p[3]));
}

/* Re-encode the (already validated) string whose contents are s[0:n] (between
 * the quotes). */
static int
put_string(Out *o, cp s, cp e)
{
    while (s < e) {
        cp run = s;
        s = next_special(s, e);
        if (s > run && out_put(o, run, (size_t)(s - run)) < 0)
            return -1;
        if (s >= e)
            break;
        /* a backslash: the validator let nothing else through */
        unsigned c = s[1];
        if (c != 'u') {
            static const char plain[] = "\"\\/bfnrt";
            static const uint32_t code[] = {'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'};
            const char *k = strchr(plain, (int)c);
            if (put_char(o, code[k - plain]) < 0)
                return -1;
            s += 2;
            continue;
        }
        uint32_t cp1 = hex4(s + 2);
        s += 6;
        if (cp1 >= 0xD800 && cp1 <= 0xDBFF && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
            uint32_t cp2 = hex4(s + 2);
            if (cp2 >= 0xDC00 && cp2 <= 0xDFFF) {
                cp1 = 0x10000 + ((cp1 - 0xD800) << 10) + (cp2 - 0xDC00);
                s += 6;
            }
        }
        if (put_char(o, cp1) < 0)
            return -1;
    }
    return 0;
}

/* Copy p[0:e] to o up to its first special byte (as next_special finds it);
 * returns where that byte is (or e), NULL when out of memory. Sixteen (with AVX2,
 * thirty-two) bytes are stored as they are tested, so plain text is read once,
 * not scanned then copied. The last bytes of a run at least that long are tested
 * and stored as the full-width block that ends at e: its first bytes were copied
 * already, and are stored again as they were. */
static cp
copy_run_sse2(Out *o, cp p, cp e)
{
#ifdef __SSE2__
    cp p0 = p;
    for (;;) {
        size_t rem = (size_t)(e - p), back = 0;
        if (rem < 16) {
            if (rem == 0 || (size_t)(p - p0) < 16 - rem)
                break; /* a short run: byte by byte */
            back = 16 - rem;
        }
        if (o->cap - o->len < 16 && out_reserve(o, 4096) < 0)
            return NULL;
        __m128i v = _mm_loadu_si128((const __m128i *)(p - back));
        unsigned mask = special16(v) >> back;
        _mm_storeu_si128((__m128i *)(o->buf + o->len - back), v);
        if (mask) {
            unsigned k = (unsigned)__builtin_ctz(mask);
            o->len += k;
            return p + k;
        }
        o->len += 16 - back;
        p += 16 - back;
        if (back)
            return p;
    }
#endif
    cp run = p;
    p = next_special(p, e);
    if (p > run && out_put(o, run, (size_t)(p - run)) < 0)
        return NULL;
    return p;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static cp
copy_run_avx2(Out *o, cp p, cp e)
{
    const __m256i quote = _mm256_set1_epi8('"'), slash = _mm256_set1_epi8('\\');
    const __m256i space = _mm256_set1_epi8(' ');
    cp p0 = p; /* as copy_run_sse2, 32 bytes a step: the bytes as special16 tests them */
    for (;;) {
        size_t rem = (size_t)(e - p), back = 0;
        if (rem < 32) {
            if (rem == 0 || (size_t)(p - p0) < 32 - rem)
                return copy_run_sse2(o, p, e); /* a short run */
            back = 32 - rem;
        }
        if (o->cap - o->len < 32 && out_reserve(o, 4096) < 0)
            return NULL;
        __m256i v = _mm256_loadu_si256((const __m256i *)(p - back));
        __m256i ctl = _mm256_cmpeq_epi8(_mm256_max_epu8(v, space), space);
        ctl = _mm256_andnot_si256(_mm256_cmpeq_epi8(v, space), ctl);
        __m256i hit = _mm256_or_si256(
            _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, slash)), ctl);
        unsigned mask = (unsigned)_mm256_movemask_epi8(hit) >> back;
        _mm256_storeu_si256((__m256i *)(o->buf + o->len - back), v);
        if (mask) {
            unsigned k = (unsigned)__builtin_ctz(mask);
            o->len += k;
            return p + k;
        }
        o->len += 32 - back;
        p += 32 - back;
        if (back)
            return p;
    }
}
#endif

static inline cp
copy_run(Out *o, cp p, cp e)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (lc_has_avx2)
        return copy_run_avx2(o, p, e);
#endif
    return copy_run_sse2(o, p, e);
}

/* Check and re-encode in one pass the string whose contents start at p (just
 * past the quote); returns p past the closing quote, or NULL if invalid. */
static cp
copy_string(Out *o, cp p, cp e)
{
    for (;;) {
        p = copy_run(o, p, e);
        if (p == NULL || p >= e)
            return NULL;
        if (*p == '"')
            return p + 1;
        if (*p != '\\' || p + 1 >= e)
            return NULL; /* a raw control character, or the body ends */
        cp esc_end = scan_string(p, e); /* validates this escape and the rest */
        if (esc_end == NULL)
            return NULL;
        /* re-encode from the backslash to the closing quote with the checked writer */
        if (put_string(o, p, esc_end - 1) < 0)
            return NULL;
        return esc_end;
    }
}

/* -------------------------------------------------------- loki_json_scan */

typedef struct {
    cp s, e; /* contents of a string token (between the quotes) */
} Str;

typedef struct {
    Scan sc;
    size_t max_line;
    Out *o;
    Out labels; /* the stream's ,"k":"v" suffix */
    Out meta;   /* one entry's structured metadata suffix */
    Out key;    /* scratch: a key re-encoded */
    Py_ssize_t lines, truncated;
    int status;
} Loki;

/* A string token at p: its contents in *str, p past it (NULL if none). */
static cp
read_string(cp p, cp e, Str *str)
{
    if (p >= e || *p != '"')
        return NULL;
    cp q = scan_string(p + 1, e);
    if (q == NULL)
        return NULL;
    str->s = p + 1;
    str->e = q - 1;
    return q;
}

/* key == word, once re-encoded (so "str\u0065am" is "stream" too). */
static int
key_is(Loki *L, Str k, const char *word)
{
    L->key.len = 0;
    if (put_string(&L->key, k.s, k.e) < 0)
        return -1;
    size_t n = strlen(word);
    return L->key.len == n && memcmp(L->key.buf, word, n) == 0;
}

/* Append ,"k":"v" for each member of the object at p (string values only; a
 * "_msg" key is left out, a repeated key means FALLBACK). Returns p past it. */
static cp
read_pairs(Loki *L, cp p, cp e, Out *into)
{
    into->len = 0;
    if (p >= e || *p != '{')
        return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}')
        return p + 1;
    /* offsets of every key written so far, to find repeats */
    size_t keys[64];
    size_t nkeys = 0;
    for (;;) {
        Str k, v;
        p = read_string(p, e, &k);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return NULL;
        p = read_string(skip_ws(p + 1, e), e, &v);
        if (p == NULL)
            return NULL;
        L->key.len = 0;
        if (put_string(&L->key, k.s, k.e) < 0)
            return NULL;
        int is_msg = L->key.len == 4 && memcmp(L->key.buf, "_msg", 4) == 0;
        if (!is_msg) {
            /* compare against earlier keys: each written as ,"KEY": */
            for (size_t i = 0; i < nkeys; i++) {
                size_t off = keys[i];
                if (into->len - off >= L->key.len + 2 &&
                    memcmp(into->buf + off, L->key.buf, L->key.len) == 0 &&
                    memcmp(into->buf + off + L->key.len, "\":", 2) == 0) {
                    L->status = FALLBACK;
                    return NULL;
                }
            }
            if (nkeys == 64) {
                L->status = FALLBACK;
                return NULL;
            }
            if (out_put(into, ",\"", 2) < 0)
                return NULL;
            keys[nkeys++] = into->len;
            if (out_put(into, L->key.buf, L->key.len) < 0 || out_put(into, "\":\"", 3) < 0 ||
                put_string(into, v.s, v.e) < 0 || out_put(into, "\"", 1) < 0)
                return NULL;
        }
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == '}')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, e);
    }
}

/* A Loki entry's timestamp at p: a string of 1-19 ASCII digits (a '-' before them)
 * within int64, as Loki reads it. Returns p past it, NULL for anything else. */
static cp
loki_timestamp(cp p, cp e)
{
    if (p >= e || *p != '"')
        return NULL;
    cp s = ++p, digits;
    if (p < e && *p == '-')
        p++;
    digits = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    size_t n = (size_t)(p - digits);
    if (p >= e || *p != '"' || n == 0 || n > 19)
        return NULL;
    if (n == 19) { /* 19 digits of the same length compare as text */
        const char *bound = digits > s ? "9223372036854775808" : "9223372036854775807";
        if (memcmp(digits, bound, 19) > 0)
            return NULL;
    }
    return p + 1;
}

/* The values array at p: write a line per entry. */
static cp
loki_values(Loki *L, cp p, cp e)
{
    if (p >= e || *p != '[')
        return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == ']')
        return p + 1;
    for (;;) {
        /* one entry: [ns, line] or [ns, line, {meta}] */
        if (p >= e || *p != '[')
            return NULL;
        p = skip_ws(p + 1, e);
        if (p >= e)
            return NULL;
        /* the timestamp: a string of a decimal int64, as Loki reads it; any other
         * (a number, an escape, ...) is the Python parser's to judge */
        p = loki_timestamp(p, e);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e || *p != ',')
            return NULL;
        /* the line is written as it is checked (an empty one too, as Loki keeps it) */
        Out *o = L->o;
        size_t start = o->len;
        p = skip_ws(p + 1, e);
        if (p >= e || *p != '"' || out_put(o, "{\"_msg\":\"", 9) < 0)
            return NULL;
        p = copy_string(o, p + 1, e);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        L->meta.len = 0;
        if (p < e && *p == ',') {
            p = read_pairs(L, skip_ws(p + 1, e), e, &L->meta);
            if (p == NULL)
                return NULL;
            p = skip_ws(p, e);
        }
        if (p >= e || *p != ']')
            return NULL;
        p = skip_ws(p + 1, e);
        /* the closing quote, the labels, the metadata and the brace at once */
        size_t nl = L->labels.len, nm = L->meta.len;
        if (out_reserve(o, nl + nm + 2) < 0) {
            L->status = -1;
            return NULL;
        }
        unsigned char *w = o->buf + o->len;
        *w++ = '"';
        if (nl)
            memcpy(w, L->labels.buf, nl);
        if (nm)
            memcpy(w + nl, L->meta.buf, nm);
        w[nl + nm] = '}';
        o->len += nl + nm + 2;
        if (out_end_line(o, start, L->max_line, &L->truncated) < 0) {
            L->status = -1;
            return NULL;
        }
        L->lines++;
        if (p >= e)
            return NULL;
        if (*p == ']')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, e);
    }
}

/* One stream object at p. Labels first (the usual order): the values are
 * written as they are read; values first: they are read again after. */
static cp
loki_stream(Loki *L, cp p, cp e)
{
    if (p >= e || *p != '{')
        return NULL;
    cp values = NULL;
    int have_labels = 0, done = 0;
    L->labels.len = 0;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}')
        return NULL; /* no values: malformed */
    for (;;) {
        Str k;
        p = read_string(p, e, &k);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return NULL;
        p = skip_ws(p + 1, e);
        int is_stream = key_is(L, k, "stream"), is_values = key_is(L, k, "values");
        if (is_stream < 0 || is_values < 0)
            return NULL;
        if ((is_stream && have_labels) || (is_values && values)) {
            L->status = FALLBACK;
            return NULL;
        }
        if (is_stream) {
            have_labels = 1;
            p = read_pairs(L, p, e, &L->labels);
        }
        else if (is_values && have_labels) {
            values = p;
            done = 1;
            p = loki_values(L, p, e);
        }
        else {
            if (is_values)
                values = p;
            p = scan_value(p, e, 2, &L->sc);
        }
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == '}')
            break;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, e);
    }
    if (values == NULL)
        return NULL;
    if (!done && loki_values(L, values, e) == NULL)
        return NULL;
    return p + 1;
}

/* The streams array at p: each stream's lines written. Returns p past it. */
static cp
loki_streams(Loki *L, cp p, cp e)
{
    if (p >= e || *p != '[')
        return NULL;
    p = skip_ws(p + 1, e);
    if (p < e && *p == ']')
        return p + 1;
    for (;;) {
        p = loki_stream(L, p, e);
        if (p == NULL)
            return NULL;
        p = skip_ws(p, e);
        if (p >= e)
            return NULL;
        if (*p == ']')
            return p + 1;
        if (*p != ',')
            return NULL;
        p = skip_ws(p + 1, e);
    }
}

/* The push: "streams" is written as it is read (one pass over the body); the
 * lines count only if the whole body turns out well-formed, with one "streams". */
static void
loki_run(Loki *L, cp body, size_t n)
{
    if (!utf8_valid(body, n)) {
        L->status = BAD_UTF8;
        return;
    }
    cp e = body + n;
    cp p = skip_ws(body, e);
    int seen = 0;
    if (p >= e || *p != '{')
        return;
    p = skip_ws(p + 1, e);
    if (p < e && *p == '}')
        return;
    for (;;) {
        Str k;
        p = read_string(p, e, &k);
        if (p == NULL)
            return;
        p = skip_ws(p, e);
        if (p >= e || *p != ':')
            return;
        p = skip_ws(p + 1, e);
        int is = key_is(L, k, "streams");
        if (is < 0)
            return;
        if (is && seen) {
            L->status = FALLBACK;
            return;
        }
        if (is) {
            seen = 1;
            p = loki_streams(L, p, e);
        }
        else
            p = scan_value(p, e, 1, &L->sc);
        if (p == NULL)
            return;
        p = skip_ws(p, e);
        if (p >= e)
            return;
        if (*p == '}')
            break;
        if (*p != ',')
            return;
        p = skip_ws(p + 1, e);
    }
    if (skip_ws(p + 1, e) != e || !seen)
        return;
    L->status = 0;
}

/* loki_json_scan(body, max_line, most=0) -> (block, lines, truncated) or an int
 * status (BAD_UTF8, FALLBACK, LC_TOO_LARGE: the lines would pass `most` bytes). */
static PyObject *
loki_json_scan(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t max_line, most = 0;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "On|n", &obj, &max_line, &most))
        return NULL;
    if (max_line < 0 || most < 0) {
        PyErr_SetString(PyExc_ValueError, "max_line or most < 0");
        return NULL;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    /* A kept buffer: a fresh one costs a page fault per 4 KiB written, more than
     * the scan itself for a 1 MiB body (see _outblock.c). */
    Out o;
    lc_out_take(&o);
    o.most = (size_t)most;
    Loki L;
    memset(&L, 0, sizeof L);
    L.o = &o;
    L.max_line = (size_t)max_line;
    L.status = FALLBACK; /* until the whole body was read */
    Py_BEGIN_ALLOW_THREADS
    loki_run(&L, (cp)view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    PyObject *res = NULL;
    if (o.over)
        res = PyLong_FromLong(LC_TOO_LARGE);
    else if (L.status == -1)
        PyErr_NoMemory();
    else if (L.status)
        res = PyLong_FromLong(L.status);
    else {
        PyObject *block = lc_out_view(&o);
        if (block != NULL)
            res = Py_BuildValue("(Nnn)", block, L.lines, L.truncated);
    }
    lc_out_give(&o);
    free(L.labels.buf);
    free(L.meta.buf);
    free(L.key.buf);
    PyBuffer_Release(&view);
    return res;
}

/* ------------------------------------------- shared with _lokiproto.c */

int
lc_json_utf8_valid(cp s, size_t n)
{
    return utf8_valid(s, n);
}

/* Valid UTF-8 text as the inside of a JSON string, as json.dumps writes it. */
int
lc_json_put_text(void *out, cp s, size_t n)
{
    Out *o = out;
    cp e = s + n;
    while (s < e) {
        s = copy_run(o, s, e);
        if (s == NULL)
            return -1;
        if (s < e && put_char(o, *s++) < 0)
            return -1;
    }
    return 0;
}

int
lc_json_end_line(void *out, size_t start, size_t max_line, Py_ssize_t *truncated)
{
    return out_end_line(out, start, max_line, truncated);
}

/* {"_msg":"<text>"<sfx>} and the line's end (cut to max_line), in one call. */
int
lc_json_put_record(void *out, cp s, size_t n, cp sfx, size_t sn, size_t max_line,
                   Py_ssize_t *truncated)
{
    Out *o = out;
    size_t start = o->len;
    if (out_put(o, "{\"_msg\":\"", 9) < 0 || lc_json_put_text(o, s, n) < 0 ||
        out_reserve(o, sn + 2) < 0)
        return -1;
    o->buf[o->len++] = '"';
    if (sn)
        memcpy(o->buf + o->len, sfx, sn);
    o->len += sn;
    o->buf[o->len++] = '}';
    return out_end_line(o, start, max_line, truncated);
}

/* ------------------------------------------------ shared with _bulk.c */

int
lc_json_blank(cp s, size_t n)
{
    return py_blank(s, n);
}

int
lc_json_object_line(cp s, cp e, int *deep)
{
    return object_line(s, e, deep);
}

cp
lc_json_value(cp p, cp e, int depth, int *deep)
{
    Scan sc = {e, 0};
    cp q = scan_value(p, e, depth, &sc);
    *deep = sc.deep;
    return q;
}

cp
lc_json_string_end(cp p, cp e)
{
    return scan_string(p, e);
}

int
lc_json_put_string(void *out, cp s, cp e)
{
    return put_string(out, s, e);
}

/* ------------------------------------------------------------- the table */

PyObject *
lc_ndjson_scan(PyObject *self, PyObject *args)
{
    return ndjson_scan(self, args);
}

PyObject *
lc_loki_json_scan(PyObject *self, PyObject *args)
{
    return loki_json_scan(self, args);
}

void
lc_json_init(void)
{
    for (int c = 0; c < 0x20; c++)
        special[c] = 1;
    special['"'] = 1;
    special['\\'] = 1;
}
