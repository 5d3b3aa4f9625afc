/* Lines holding one of several same-length spellings, in one pass, GIL released.
 *
 * find_lines_spelled(buf, start, end, spellings, out) -> int: like find_lines,
 * for a tuple of 1-64 bytes objects of one length (the case spellings of a piece
 * of a (?i) literal: "бка", "БКА", "бКа", ...). Per position the set of bytes any
 * spelling has there is known; two positions whose sets are smallest are tested
 * many bytes at a time (AVX2 or SSE2), then the other positions against their sets, then
 * the spellings in full. One pass instead of one per spelling.
 * Reference: the OR pass of filter_lines with the same spellings.
 *
 * find_lines_spelled(..., out, before, after): the lines holding a whole literal of
 * which the spellings are one piece, each character around it given as the tuple of
 * its encodings (`before` nearest first): every hit of the piece is checked for them.
 * The exact (?i) search of logcaster.query.casefold; reference:
 * casefold.py_find_lines_spelled.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <limits.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_SPELLINGS 64
#define MAX_LEN 64
#define MAX_ANCHOR 4 /* bytes a SIMD anchor position may take */

typedef struct {
    const unsigned char *sp[MAX_SPELLINGS];
    Py_ssize_t n;
    size_t k;
    uint64_t set[MAX_LEN][4]; /* bytes allowed at each position */
    unsigned char opts[2][MAX_ANCHOR];
    int nopts[2];
    size_t at[2];
} Spelled;

static int
allowed(const Spelled *s, size_t j, unsigned char c)
{
    return (int)((s->set[j][c >> 6] >> (c & 63)) & 1);
}

static int
matches_at(const Spelled *s, const unsigned char *p)
{
    for (size_t j = 0; j < s->k; j++)
        if (!allowed(s, j, p[j]))
            return 0;
    Py_ssize_t lo = 0, hi = s->n; /* the spellings are sorted: a binary search */
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) / 2;
        int c = memcmp(p, s->sp[mid], s->k);
        if (c == 0)
            return 1;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return 0;
}

static int
by_bytes(const void *a, const void *b, void *k)
{
    return memcmp(*(const unsigned char *const *)a, *(const unsigned char *const *)b,
                  *(const size_t *)k);
}

/* How common a byte is in log text (higher: more): a position whose bytes are rare is
 * a better one to test many at a time. UTF-8 lead bytes are as common as the letters
 * of their script; the continuation byte tells the letter. */
static int
commonness(unsigned char c)
{
    if (c >= 0xC0)
        return 12;
    if (c == ' ' || (c >= '0' && c <= '9'))
        return 9;
    if (c != 0 && strchr("etaoinsrlcdu", c) != NULL)
        return 8;
    if (c >= 'a' && c <= 'z')
        return 6;
    if (c != 0 && strchr("=:-._/\"[],", c) != NULL)
        return 5;
    if (c >= 0x80)
        return 4;
    if (c >= 'A' && c <= 'Z')
        return 3;
    return 2;
}

static int
set_size(const Spelled *s, size_t j)
{
    int count = 0;
    for (int w = 0; w < 4; w++)
        count += __builtin_popcountll(s->set[j][w]);
    return count;
}

/* How often a position's set is expected to match: the commonness of its bytes (a set
 * too large to test many at a time: last). */
static int
set_score(const Spelled *s, size_t j)
{
    if (set_size(s, j) > MAX_ANCHOR)
        return 1 << 16;
    int score = 0;
    for (int c = 0; c < 256; c++)
        if (allowed(s, j, (unsigned char)c))
            score += commonness((unsigned char)c);
    return score;
}

/* Two anchor positions: the rarest sets (by set_score; ties broken by distance apart). */
static void
choose_anchors(Spelled *s)
{
    size_t best0 = 0, best1 = s->k - 1;
    long bestscore = LONG_MAX, scores[MAX_LEN];
    for (size_t a = 0; a < s->k; a++)
        scores[a] = set_score(s, a);
    for (size_t a = 0; a < s->k; a++) {
        for (size_t b = a; b < s->k; b++) {
            long score = (scores[a] + scores[b]) * 1024 - (long)(b - a);
            if (score < bestscore) {
                bestscore = score;
                best0 = a;
                best1 = b;
            }
        }
    }
    s->at[0] = best0;
    s->at[1] = best1;
    for (int t = 0; t < 2; t++) {
        s->nopts[t] = 0;
        for (int c = 0; c < 256; c++)
            if (allowed(s, s->at[t], (unsigned char)c) && s->nopts[t] < MAX_ANCHOR)
                s->opts[t][s->nopts[t]++] = (unsigned char)c;
        if (set_size(s, s->at[t]) > MAX_ANCHOR)
            s->nopts[t] = 0; /* too many: this position is not tested by SIMD */
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static const unsigned char *
find_avx2(const Spelled *s, const unsigned char *p, size_t n, size_t *done)
{
    size_t k = s->k, i = 0;
    __m256i a[MAX_ANCHOR], b[MAX_ANCHOR];
    for (int t = 0; t < s->nopts[0]; t++)
        a[t] = _mm256_set1_epi8((char)s->opts[0][t]);
    for (int t = 0; t < s->nopts[1]; t++)
        b[t] = _mm256_set1_epi8((char)s->opts[1][t]);
    for (; i + k - 1 + 32 <= n; i += 32) {
        __m256i va = _mm256_loadu_si256((const __m256i *)(p + i + s->at[0]));
        __m256i vb = _mm256_loadu_si256((const __m256i *)(p + i + s->at[1]));
        __m256i ma = _mm256_cmpeq_epi8(va, a[0]), mb = _mm256_cmpeq_epi8(vb, b[0]);
        for (int t = 1; t < s->nopts[0]; t++)
            ma = _mm256_or_si256(ma, _mm256_cmpeq_epi8(va, a[t]));
        for (int t = 1; t < s->nopts[1]; t++)
            mb = _mm256_or_si256(mb, _mm256_cmpeq_epi8(vb, b[t]));
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(ma, mb));
        while (m) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            if (matches_at(s, p + i + bit))
                return p + i + bit;
            m &= m - 1;
        }
    }
    *done = i;
    return NULL;
}
#endif

static const unsigned char *
find_spelled(const Spelled *s, const unsigned char *p, size_t n)
{
    size_t k = s->k, i = 0;
    if (n < k)
        return NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    if (lc_has_avx2 && s->nopts[0] && s->nopts[1]) {
        const unsigned char *hit = find_avx2(s, p, n, &i);
        if (hit != NULL)
            return hit;
    }
#endif
#ifdef __SSE2__
    if (s->nopts[0] && s->nopts[1]) {
        __m128i a[MAX_ANCHOR], b[MAX_ANCHOR];
        for (int t = 0; t < s->nopts[0]; t++)
            a[t] = _mm_set1_epi8((char)s->opts[0][t]);
        for (int t = 0; t < s->nopts[1]; t++)
            b[t] = _mm_set1_epi8((char)s->opts[1][t]);
        for (; i + k - 1 + 16 <= n; i += 16) {
            __m128i va = _mm_loadu_si128((const __m128i *)(p + i + s->at[0]));
            __m128i vb = _mm_loadu_si128((const __m128i *)(p + i + s->at[1]));
            __m128i ma = _mm_cmpeq_epi8(va, a[0]), mb = _mm_cmpeq_epi8(vb, b[0]);
            for (int t = 1; t < s->nopts[0]; t++)
                ma = _mm_or_si128(ma, _mm_cmpeq_epi8(va, a[t]));
            for (int t = 1; t < s->nopts[1]; t++)
                mb = _mm_or_si128(mb, _mm_cmpeq_epi8(vb, b[t]));
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(ma, mb));
            while (m) {
                unsigned bit = (unsigned)__builtin_ctz(m);
                if (matches_at(s, p + i + bit))
                    return p + i + bit;
                m &= m - 1;
            }
        }
    }
#endif
    for (; i + k <= n; i++)
        if (matches_at(s, p + i))
            return p + i;
    return NULL;
}

/* The characters around the piece, for an exact match of a whole (?i) literal:
 * each one of a few encodings, of which at most one can match at a place (valid
 * UTF-8 is prefix- and suffix-free). */
#define MAX_AROUND 256
#define MAX_ORBIT 8
typedef struct {
    const unsigned char *enc[MAX_ORBIT];
    size_t len[MAX_ORBIT];
    int n;
} Orbit;

typedef struct {
    Spelled sp;
    Orbit before[MAX_AROUND], after[MAX_AROUND]; /* before: nearest first */
    Py_ssize_t nbefore, nafter;
} Literal;

/* Whether the literal's characters before the piece end at h, and those after it
 * start at t, within [lo, hi). */
static int
around(const Literal *l, const unsigned char *lo, const unsigned char *h, const unsigned char *t,
       const unsigned char *hi)
{
    for (Py_ssize_t c = 0; c < l->nbefore; c++) {
        const Orbit *o = &l->before[c];
        int m = 0;
        while (m < o->n && !((size_t)(h - lo) >= o->len[m] &&
                             memcmp(h - o->len[m], o->enc[m], o->len[m]) == 0))
            m++;
        if (m == o->n)
            return 0;
        h -= o->len[m];
    }
    for (Py_ssize_t c = 0; c < l->nafter; c++) {
        const Orbit *o = &l->after[c];
        int m = 0;
        while (m < o->n &&
               !((size_t)(hi - t) >= o->len[m] && memcmp(t, o->enc[m], o->len[m]) == 0))
            m++;
        if (m == o->n)
            return 0;
        t += o->len[m];
    }
    return 1;
}

static const unsigned char *
spelled_finder(const void *ctx, const unsigned char *p, size_t n)
{
    const Literal *l = ctx;
    const unsigned char *lo = p, *hi = p + n;
    while (p < hi) {
        const unsigned char *h = find_spelled(&l->sp, p, (size_t)(hi - p));
        if (h == NULL || around(l, lo, h, h + l->sp.k, hi))
            return h;
        p = h + 1;
    }
    return NULL;
}

static int
get_orbits(PyObject *tuple, Orbit *out, Py_ssize_t *count)
{
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    if (n > MAX_AROUND) {
        PyErr_SetString(PyExc_ValueError, "at most 256 characters around the piece");
        return -1;
    }
    for (Py_ssize_t c = 0; c < n; c++) {
        PyObject *orbit = PyTuple_GET_ITEM(tuple, c);
        if (!PyTuple_Check(orbit) || PyTuple_GET_SIZE(orbit) < 1 ||
            PyTuple_GET_SIZE(orbit) > MAX_ORBIT) {
            PyErr_SetString(PyExc_ValueError, "each character: a tuple of 1-8 encodings");
            return -1;
        }
        out[c].n = (int)PyTuple_GET_SIZE(orbit);
        for (int m = 0; m < out[c].n; m++) {
            PyObject *enc = PyTuple_GET_ITEM(orbit, m);
            if (!PyBytes_Check(enc) || PyBytes_GET_SIZE(enc) < 1 ||
                memchr(PyBytes_AS_STRING(enc), '\n', (size_t)PyBytes_GET_SIZE(enc)) != NULL) {
                PyErr_SetString(PyExc_ValueError, "encodings: non-empty bytes, no newline");
                return -1;
            }
            out[c].enc[m] = (const unsigned char *)PyBytes_AS_STRING(enc);
            out[c].len[m] = (size_t)PyBytes_GET_SIZE(enc);
        }
    }
    *count = n;
    return 0;
}

PyObject *
lc_find_lines_spelled(PyObject *self, PyObject *args)
{
    PyObject *obj, *tuple, *out, *before = NULL, *after = NULL;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "OnnO!O|O!O!", &obj, &start, &end, &PyTuple_Type, &tuple, &out,
                          &PyTuple_Type, &before, &PyTuple_Type, &after))
        return NULL;
    Literal *l = calloc(1, sizeof(Literal));
    if (l == NULL)
        return PyErr_NoMemory();
    Spelled *sp = &l->sp;
    PyObject *result = NULL;
    sp->n = PyTuple_GET_SIZE(tuple);
    if (sp->n < 1 || sp->n > MAX_SPELLINGS) {
        PyErr_SetString(PyExc_ValueError, "1-64 spellings");
        goto done;
    }
    for (Py_ssize_t i = 0; i < sp->n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "spellings must be bytes");
            goto done;
        }
        size_t len = (size_t)PyBytes_GET_SIZE(item);
        if (len == 0 || len > MAX_LEN || (i > 0 && len != sp->k) ||
            memchr(PyBytes_AS_STRING(item), '\n', len) != NULL) {
            PyErr_SetString(PyExc_ValueError,
                            "spellings must be of one length (1-64), without a newline");
            goto done;
        }
        sp->k = len;
        sp->sp[i] = (const unsigned char *)PyBytes_AS_STRING(item);
        for (size_t j = 0; j < len; j++) {
            unsigned char c = sp->sp[i][j];
            sp->set[j][c >> 6] |= (uint64_t)1 << (c & 63);
        }
    }
    if ((before && get_orbits(before, l->before, &l->nbefore) < 0) ||
        (after && get_orbits(after, l->after, &l->nafter) < 0))
        goto done;
    qsort_r(sp->sp, (size_t)sp->n, sizeof(sp->sp[0]), by_bytes, &sp->k);
    choose_anchors(sp);
    result = lc_scan_hits(obj, start, end, spelled_finder, l, out);
done:
    free(l);
    return result;
}
