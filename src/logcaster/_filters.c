/* A query's literal and level filters, evaluated in one C pass over a region.
 *
 * filter_lines() walks a region of newline-terminated lines with the GIL
 * released and keeps the lines that hold every AND literal, at least one OR
 * literal and a wanted level. Literals are found with the SIMD scan of
 * _speedups.c: the first AND literal drives the scan (the others are checked
 * inside its lines with the same search); OR literals (up to LC_ANY_MAX) are searched in
 * one pass for all of them (_anyof.c); more are searched side by side, each
 * remembering its next occurrence.
 * The level test is level_code(), the C twin of logcaster.query.levels.level_of
 * (docs/levels.md); tests compare the two on generated lines.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Level codes: index into logcaster.query.levels.LEVEL_CODES. */
enum { L_NONE, L_TRACE, L_DEBUG, L_INFO, L_NOTICE, L_WARN, L_ERROR, L_CRITICAL, L_FATAL,
       L_ALERT, L_EMERG };

static const struct {
    const char *word;
    size_t len;
    int code;
} WORDS[] = {
    {"TRACE", 5, L_TRACE},       {"DEBUG", 5, L_DEBUG},         {"DBG", 3, L_DEBUG},
    {"INFO", 4, L_INFO},         {"INFORMATIONAL", 13, L_INFO}, {"NOTICE", 6, L_NOTICE},
    {"WARN", 4, L_WARN},         {"WARNING", 7, L_WARN},        {"ERROR", 5, L_ERROR},
    {"ERR", 3, L_ERROR},         {"CRITICAL", 8, L_CRITICAL},   {"CRIT", 4, L_CRITICAL},
    {"FATAL", 5, L_FATAL},       {"ALERT", 5, L_ALERT},         {"EMERG", 5, L_EMERG},
    {"EMERGENCY", 9, L_EMERG},   {"PANIC", 5, L_EMERG},
};
#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))
#define MAX_WORD 13


static inline int
is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static inline int
is_space(unsigned char c) /* RE2's \s: [\t\n\f\r ] */
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static inline unsigned char
upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c;
}

/* The bytes of a word of at most 8 as one number, the first in the low byte. */
static inline unsigned long long
packed(const char *w)
{
    unsigned long long v = 0;
    for (size_t i = 0; i < 8 && w[i]; i++)
        v |= (unsigned long long)(unsigned char)w[i] << (8 * i);
    return v;
}

/* The level code of s[0:n] as a level word: exact upper case when `exact`,
 * else ASCII case-insensitive; 0 when it is none. A word of 3 to 8 bytes is compared
 * as one number with the words of its length (upper-cased 8 bytes at a time), not
 * against the table one by one. */
static inline __attribute__((always_inline)) int
word_code(const unsigned char *s, size_t n, int exact)
{
    if (n < 3 || n > MAX_WORD)
        return 0;
    if (n <= 8) {
        unsigned long long v = 0, ones = 0x0101010101010101ULL;
        for (size_t i = 0; i < n; i++)
            v |= (unsigned long long)s[i] << (8 * i);
        if (!exact) { /* ASCII a-z to A-Z; any other byte as it is */
            unsigned long long low7 = v & (ones * 0x7F);
            unsigned long long ge_a = low7 + ones * (0x80 - 'a'), gt_z = low7 + ones * (0x7F - 'z');
            v ^= ((ge_a & ~gt_z & ~v) & (ones * 0x80)) >> 2;
        }
        switch (n) {
        case 3:
            return v == packed("DBG") ? L_DEBUG : v == packed("ERR") ? L_ERROR : 0;
        case 4:
            return v == packed("INFO")   ? L_INFO
                   : v == packed("WARN") ? L_WARN
                   : v == packed("CRIT") ? L_CRITICAL
                                         : 0;
        case 5:
            return v == packed("DEBUG")   ? L_DEBUG
                   : v == packed("ERROR") ? L_ERROR
                   : v == packed("TRACE") ? L_TRACE
                   : v == packed("FATAL") ? L_FATAL
                   : v == packed("ALERT") ? L_ALERT
                   : v == packed("EMERG") ? L_EMERG
                   : v == packed("PANIC") ? L_EMERG
                                          : 0;
        case 6:
            return v == packed("NOTICE") ? L_NOTICE : 0;
        case 7:
            return v == packed("WARNING") ? L_WARN : 0;
        default:
            return v == packed("CRITICAL") ? L_CRITICAL : 0;
        }
    }
    unsigned char first = upper(s[0]);
    if (first != 'T' && first != 'D' && first != 'I' && first != 'N' && first != 'W' &&
        first != 'E' && first != 'C' && first != 'F' && first != 'A' && first != 'P')
        return 0;
    for (size_t w = 0; w < NWORDS; w++) {
        const char *word = WORDS[w].word;
        if (WORDS[w].len != n || (unsigned char)word[0] != first)
            continue;
        size_t i = 0;
        if (exact) {
            if (memcmp(s, word, n) == 0)
                return WORDS[w].code;
            continue;
        }
        while (i < n && upper(s[i]) == (unsigned char)word[i])
            i++;
        if (i == n)
            return WORDS[w].code;
    }
    return 0;
}

/* word_code() out of line: for the rarer tokens ([word], a JSON member), whose
 * inlined copies cost the usual lines' scan more than the call costs these. */
static __attribute__((noinline)) int
word_code_call(const unsigned char *s, size_t n, int exact)
{
    return word_code(s, n, exact);
}

/* 1 when s[0:n] equals `key` (upper case) ignoring ASCII case. */
static inline int
key_is(const unsigned char *s, size_t n, const char *key)
{
    size_t k = strlen(key); /* a constant: the calls name literals */
    if (n != k)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (upper(s[i]) != (unsigned char)key[i])
            return 0;
    return 1;
}

/* The bytes where a level token may start: an upper-case word, a level/severity/lvl
 * key (any case), '[' and '"'. A word starting with any other byte (a digit, another
 * lower-case letter, '_') is no token, and no byte inside a word starts one. */
static const unsigned char STARTS[256] = {
    ['A' ... 'Z'] = 1, ['l'] = 1, ['s'] = 1, ['['] = 1, ['"'] = 1,
};

#ifdef __SSE2__
/* The bits of the word bytes ([A-Za-z0-9_]) of the 16 in v. */
static inline unsigned
word_bits(__m128i v)
{
    const __m128i bias = _mm_set1_epi8((char)0x80);
    __m128i low = _mm_or_si128(v, _mm_set1_epi8(0x20)); /* A-Z to a-z; others stay out */
    /* x - lo + 0x80 < n + 0x80, signed: x in [lo, lo + n) */
    __m128i letter = _mm_cmplt_epi8(_mm_add_epi8(_mm_sub_epi8(low, _mm_set1_epi8('a')), bias),
                                    _mm_set1_epi8((char)(-128 + 26)));
    __m128i digit = _mm_cmplt_epi8(_mm_add_epi8(_mm_sub_epi8(v, _mm_set1_epi8('0')), bias),
                                   _mm_set1_epi8((char)(-128 + 10)));
    __m128i under = _mm_cmpeq_epi8(v, _mm_set1_epi8('_'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(letter, digit), under));
}
#endif

/* The end of the word starting at s[p] (the first non-word byte at or after p, or
 * n): 16 bytes at a time, not a loop whose exit is mispredicted at every word. */
static inline size_t
word_end(const unsigned char *s, size_t p, size_t n)
{
#ifdef __SSE2__
    while (p + 16 <= n) {
        unsigned non = ~word_bits(_mm_loadu_si128((const __m128i *)(s + p))) & 0xFFFFu;
        if (non)
            return p + (size_t)__builtin_ctz(non);
        p += 16;
    }
#endif
    while (p < n && is_word(s[p]))
        p++;
    return p;
}

/* The STARTS bytes of the 16 at s[base:] (a line's scan keeps the last 16 it
 * classed: the next start is often in them). */
typedef struct {
    size_t base; /* past the line when none */
    unsigned bits;
} starts_t;

/* The first p' >= p where a level token may start (STARTS), or n; 16 bytes at a time. */
static inline size_t
next_start(const unsigned char *s, size_t p, size_t n, starts_t *c)
{
#ifdef __SSE2__
    const __m128i shift = _mm_set1_epi8((char)(128 - 'A')), lim = _mm_set1_epi8((char)(-128 + 26));
    const __m128i l = _mm_set1_epi8('l'), sm = _mm_set1_epi8('s');
    const __m128i br = _mm_set1_epi8('['), qu = _mm_set1_epi8('"');
    for (;;) {
        if (p >= c->base && p - c->base < 16) {
            unsigned m = c->bits >> (p - c->base);
            if (m)
                return p + (size_t)__builtin_ctz(m);
            p = c->base + 16;
        }
        if (p + 16 > n)
            break;
        __m128i v = _mm_loadu_si128((const __m128i *)(s + p));
        __m128i m = _mm_cmplt_epi8(_mm_add_epi8(v, shift), lim); /* 'A'..'Z' */
        m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, l), _mm_cmpeq_epi8(v, sm)));
        /* a letter right after a word byte is inside a word: no token starts there
         * (the scan below would only step over it) */
        unsigned inside = word_bits(v) << 1 | (p > 0 && is_word(s[p - 1]));
        unsigned marks = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, br), _mm_cmpeq_epi8(v, qu)));
        c->base = p;
        c->bits = ((unsigned)_mm_movemask_epi8(m) & ~inside) | marks;
    }
#endif
    while (p < n && !STARTS[s[p]])
        p++;
    return p;
}

/* A line that is (or starts as) a JSON object: '{' after spaces, tabs or CRs. */
static inline int
json_object_line(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
        i++;
    return i < n && s[i] == '{';
}

/* The line's level: its PRI's; in a JSON object line its first JSON level member
 * ("level":"error"), over the other tokens; else its first token. `found` keeps
 * a JSON object line's first other token while the scan goes on for a member. */
static int
level_code(const unsigned char *s, size_t n)
{
    int pri = lc_pri_code(s, n);
    if (pri)
        return pri;
    int json = json_object_line(s, n), found = L_NONE;
#define TOKEN(code)                                                                            \
    do {                                                                                       \
        if (!json)                                                                             \
            return (code);                                                                     \
        if (!found)                                                                            \
            found = (code);                                                                    \
    } while (0)
    starts_t starts = {n + 1, 0};
    for (size_t p = 0; p < n; p++) {
        p = next_start(s, p, n, &starts); /* no other byte can start a level token */
        if (p >= n)
            break;
        unsigned char c = s[p];
        if (is_word(c)) {
            if (p > 0 && is_word(s[p - 1]))
                continue;
            size_t q = word_end(s, p, n);
            if (found) { /* only a JSON member can still decide */
                p = q - 1;
                continue;
            }
            if (c >= 'A' && c <= 'Z') {
                int code = word_code(s + p, q - p, 1); /* \b(WORD)\b, upper case */
                if (code) {
                    TOKEN(code);
                    p = q - 1;
                    continue;
                }
            }
            unsigned char k = upper(c);
            if ((k == 'L' || k == 'S') &&
                (key_is(s + p, q - p, "LEVEL") || key_is(s + p, q - p, "SEVERITY") ||
                 key_is(s + p, q - p, "LVL"))) {
                /* level\s*[=:]\s*"?WORD\b, any case */
                size_t r = q;
                while (r < n && is_space(s[r]))
                    r++;
                if (r < n && (s[r] == '=' || s[r] == ':')) {
                    r++;
                    while (r < n && is_space(s[r]))
                        r++;
                    if (r < n && s[r] == '"')
                        r++;
                    size_t t = r;
                    while (t < n && is_word(s[t]))
                        t++;
                    int code = word_code(s + r, t - r, 0);
                    if (code)
                        TOKEN(code);
                }
            }
            p = q - 1;
        } else if (c == '[') { /* \[WORD\], any case */
            if (found)
                continue;
            size_t r = p + 1, t = r;
            while (t < n && t - r <= MAX_WORD && s[t] != ']')
                t++;
            if (t < n && s[t] == ']') {
                int code = word_code_call(s + r, t - r, 0);
                if (code)
                    TOKEN(code);
            }
        } else if (c == '"') {
            /* "level"\s*:\s*"WORD", any case (or "severity", ECS's "log.level", syslog-ng's
             * "PRIORITY") */
            size_t r = p + 1, t = r;
            while (t < n && t - r <= 9 && s[t] != '"')
                t++;
            if (t < n && (key_is(s + r, t - r, "LEVEL") || key_is(s + r, t - r, "SEVERITY") ||
                          key_is(s + r, t - r, "LOG.LEVEL") || key_is(s + r, t - r, "PRIORITY"))) {
                t++;
                while (t < n && is_space(s[t]))
                    t++;
                if (t < n && s[t] == ':') {
                    t++;
                    while (t < n && is_space(s[t]))
                        t++;
                    if (t < n && s[t] == '"') {
                        size_t v = ++t;
                        while (t < n && t - v <= MAX_WORD && s[t] != '"')
                            t++;
                        if (t < n && s[t] == '"') {
                            int code = word_code_call(s + v, t - v, 0);
                            if (code)
                                return code; /* a JSON level member: first or decisive */
                        }
                    }
                }
            }
        }
    }
#undef TOKEN
    return found;
}

int
lc_level_code(const unsigned char *s, size_t n)
{
    return level_code(s, n);
}

int
lc_level_words(unsigned long mask, lc_anyof *a)
{
    const char *lits[LC_ANY_MAX];
    size_t lens[LC_ANY_MAX];
    int n = 0;
    if (mask == 0 || (mask & 1))
        return -1; /* lines without a level are wanted: each must be read */
    for (size_t w = 0; w < NWORDS; w++) {
        if (!(mask & (1UL << WORDS[w].code)))
            continue;
        int covered = 0; /* a wanted word inside it (ERR in ERROR) finds its lines */
        for (size_t v = 0; v < NWORDS && !covered; v++)
            covered = v != w && (mask & (1UL << WORDS[v].code)) && WORDS[v].len < WORDS[w].len &&
                      memmem(WORDS[w].word, WORDS[w].len, WORDS[v].word, WORDS[v].len) != NULL;
        if (covered)
            continue;
        if (n >= LC_ANY_MAX - 2)
            return -1;
        lits[n] = WORDS[w].word;
        lens[n++] = WORDS[w].len;
    }
    lits[n] = "\"level\""; /* a JSON numeric level (fields.structured_level) */
    lens[n++] = 7;
    lits[n] = "\n<"; /* a syslog PRI at the start of the next line */
    lens[n++] = 2;
    return lc_anyof_init(a, lits, lens, n, 1);
}

/* line_level(line) -> level code */
PyObject *
lc_line_level(PyObject *self, PyObject *args)
{
    Py_buffer line;
    if (!PyArg_ParseTuple(args, "y*", &line))
        return NULL;
    int code = level_code((const unsigned char *)line.buf, (size_t)line.len);
    PyBuffer_Release(&line);
    return PyLong_FromLong(code);
}

typedef struct {
    const char *s;
    size_t n;
} lit;

static int
get_literals(PyObject *seq, lit **out, Py_ssize_t *count)
{
    if (!PyTuple_Check(seq)) {
        PyErr_SetString(PyExc_TypeError, "literals must be a tuple of bytes");
        return -1;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(seq);
    *out = k ? calloc((size_t)k, sizeof(lit)) : NULL;
    if (k && *out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *b = PyTuple_GET_ITEM(seq, i);
        if (!PyBytes_Check(b)) {
            free(*out);
            PyErr_SetString(PyExc_TypeError, "literals must be a tuple of bytes");
            return -1;
        }
        (*out)[i].s = PyBytes_AS_STRING(b);
        (*out)[i].n = (size_t)PyBytes_GET_SIZE(b);
    }
    *count = k;
    return 0;
}

/* Does the line [ls, cut) pass the checks other than the driving literal? */
static inline int
line_passes(const char *ls, const char *cut, const lit *all, Py_ssize_t nall, const lit *any,
            Py_ssize_t nany, unsigned long mask)
{
    size_t len = (size_t)(cut - ls);
    for (Py_ssize_t i = 0; i < nall; i++)
        if (all[i].n && lc_find_literal(ls, len, all[i].s, all[i].n) == NULL)
            return 0;
    if (nany) {
        Py_ssize_t i = 0;
        for (; i < nany; i++)
            if (any[i].n == 0 || lc_find_literal(ls, len, any[i].s, any[i].n) != NULL)
                break;
        if (i == nany)
            return 0;
    }
    if (mask && !(mask & (1UL << level_code((const unsigned char *)ls, len))))
        return 0;
    return 1;
}

/* filter_lines(buf, start, end, all, any, levels, out) -> int
 * Appends to the array('q') `out` the spans (adjacent lines joined) of the lines
 * of buf[start:end] that hold every literal of the tuple `all`, one of `any`
 * (when not empty) and, when the bit mask `levels` is not 0, whose level code
 * has its bit set. Returns the number of such lines. Literals hold no '\n'. */
PyObject *
lc_filter_lines(PyObject *self, PyObject *args)
{
    PyObject *obj, *all_obj, *any_obj, *out;
    unsigned long mask;
    Py_ssize_t start, end, count = 0, nspans = 0, cap = 0, nall, nany;
    Py_ssize_t *spans = NULL;
    lit *all = NULL, *any = NULL;
    const char **next = NULL; /* per OR literal: its next occurrence, once searched */
    char *dead = NULL;         /* per OR literal: none left */
    Py_buffer view;
    int nomem = 0;
    if (!PyArg_ParseTuple(args, "OnnO!O!kO", &obj, &start, &end, &PyTuple_Type, &all_obj,
                          &PyTuple_Type, &any_obj, &mask, &out))
        return NULL;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (start < 0 || end < start || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        return NULL;
    }
    if (get_literals(all_obj, &all, &nall) < 0 || get_literals(any_obj, &any, &nany) < 0)
        goto fail;
    if (nany && ((next = calloc((size_t)nany, sizeof(char *))) == NULL ||
                 (dead = calloc((size_t)nany, 1)) == NULL)) {
        PyErr_NoMemory();
        goto fail;
    }
    /* OR literals alone (none empty): one pass for all of them (_anyof.c). */
    lc_anyof one;
    int single = 0;
    if (!nall && nany > 1 && nany <= LC_ANY_MAX) {
        const char *lits[LC_ANY_MAX];
        size_t lens[LC_ANY_MAX];
        for (Py_ssize_t i = 0; i < nany; i++) {
            lits[i] = any[i].s;
            lens[i] = any[i].n;
        }
        single = lc_anyof_init(&one, lits, lens, (int)nany, 0) == 0;
    }
    Py_BEGIN_ALLOW_THREADS
    const char *base = (const char *)view.buf;
    const char *p = base + start, *e = base + end;
    while (p < e) {
        const char *hit;
        if (nall) {
            hit = lc_find_literal(p, (size_t)(e - p), all[0].s, all[0].n);
        } else if (single) {
            hit = (const char *)lc_anyof_find(&one, (const unsigned char *)p, (size_t)(e - p));
        } else if (nany) {
            hit = NULL;
            for (Py_ssize_t i = 0; i < nany; i++) {
                if (dead[i])
                    continue;
                if (next[i] == NULL || next[i] < p) {
                    next[i] = lc_find_literal(p, (size_t)(e - p), any[i].s, any[i].n);
                    if (next[i] == NULL) {
                        dead[i] = 1; /* no occurrence left in the region */
                        continue;
                    }
                }
                if (hit == NULL || next[i] < hit)
                    hit = next[i];
            }
        } else {
            hit = p;
        }
        if (hit == NULL)
            break;
        const char *ls = hit > p ? memrchr(p, '\n', (size_t)(hit - p)) : NULL;
        ls = ls ? ls + 1 : p;
        const char *nl = memchr(hit, '\n', (size_t)(e - hit));
        const char *le = nl ? nl + 1 : e, *cut = nl ? nl : e;
        if (line_passes(ls, cut, nall ? all + 1 : NULL, nall ? nall - 1 : 0, nall ? any : NULL,
                        nall ? nany : 0, mask)) {
            if (lc_add_span(&spans, &nspans, &cap, ls - base, le - base) < 0) {
                nomem = 1;
                break;
            }
            count++;
        }
        p = le;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    free(all);
    free(any);
    free(next);
    free(dead);
    return lc_spans_result(out, spans, nspans, nomem, count);
fail:
    PyBuffer_Release(&view);
    free(all);
    free(any);
    free(next);
    free(dead);
    return NULL;
}
