/* ASCII case-insensitive literal search over regions of lines, GIL released.
 *
 * find_lines_icase(buf, start, end, needle, out) -> int: like find_lines, for a
 * needle given in lower case whose ASCII letters also match their upper case
 * (and nothing else: bytes >= 0x80 and non-letters match only themselves). The
 * (?i) prefilter of logcaster.query.casefold uses it where every letter of a
 * literal folds only to its ASCII pair. Reference: casefold.py_find_lines_icase.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#define MAX_NEEDLE 256

static int
is_lower(unsigned char c)
{
    return c >= 'a' && c <= 'z';
}

static int
same(const unsigned char *s, const unsigned char *needle, const unsigned char *mask, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if ((unsigned char)(s[j] | mask[j]) != needle[j])
            return 0;
    return 1;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static const unsigned char *
find_avx2(const unsigned char *s, size_t n, const unsigned char *needle, const unsigned char *mask,
          size_t k, size_t *done)
{
    const __m256i first = _mm256_set1_epi8((char)needle[0]);
    const __m256i last = _mm256_set1_epi8((char)needle[k - 1]);
    const __m256i fm = _mm256_set1_epi8((char)mask[0]);
    const __m256i lm = _mm256_set1_epi8((char)mask[k - 1]);
    size_t i = 0;
    for (; i + k - 1 + 32 <= n; i += 32) {
        __m256i bf = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(s + i)), fm);
        __m256i bl = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(s + i + k - 1)), lm);
        unsigned m = (unsigned)_mm256_movemask_epi8(
            _mm256_and_si256(_mm256_cmpeq_epi8(first, bf), _mm256_cmpeq_epi8(last, bl)));
        while (m) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            if (same(s + i + bit, needle, mask, k))
                return s + i + bit;
            m &= m - 1;
        }
    }
    *done = i;
    return NULL;
}
#endif

static const unsigned char *
find_icase(const unsigned char *s, size_t n, const unsigned char *needle, const unsigned char *mask,
           size_t k)
{
    size_t i = 0;
    if (n < k)
        return NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    if (lc_has_avx2) {
        const unsigned char *hit = find_avx2(s, n, needle, mask, k, &i);
        if (hit != NULL)
            return hit;
    }
#endif
#ifdef __SSE2__
    const __m128i first = _mm_set1_epi8((char)needle[0]);
    const __m128i last = _mm_set1_epi8((char)needle[k - 1]);
    const __m128i fm = _mm_set1_epi8((char)mask[0]);
    const __m128i lm = _mm_set1_epi8((char)mask[k - 1]);
    for (; i + k - 1 + 16 <= n; i += 16) {
        __m128i bf = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i)), fm);
        __m128i bl = _mm_or_si128(_mm_loadu_si128((const __m128i *)(s + i + k - 1)), lm);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(first, bf), _mm_cmpeq_epi8(last, bl)));
        while (m) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            if (same(s + i + bit, needle, mask, k))
                return s + i + bit;
            m &= m - 1;
        }
    }
#endif
    for (; i + k <= n; i++)
        if (same(s + i, needle, mask, k))
            return s + i;
    return NULL;
}

typedef struct {
    unsigned char lower[MAX_NEEDLE], mask[MAX_NEEDLE];
    size_t k;
} Needle;

static const unsigned char *
icase_finder(const void *ctx, const unsigned char *p, size_t n)
{
    const Needle *nd = ctx;
    return find_icase(p, n, nd->lower, nd->mask, nd->k);
}

PyObject *
lc_find_lines_icase(PyObject *self, PyObject *args)
{
    PyObject *obj, *out;
    Py_buffer needle;
    Py_ssize_t start, end;
    Needle n;
    unsigned char *lower = n.lower, *mask = n.mask;
    if (!PyArg_ParseTuple(args, "Onny*O", &obj, &start, &end, &needle, &out))
        return NULL;
    size_t k = n.k = (size_t)needle.len;
    if (k == 0 || k > MAX_NEEDLE || memchr(needle.buf, '\n', k) != NULL) {
        PyBuffer_Release(&needle);
        PyErr_SetString(PyExc_ValueError, "needle must be 1-256 bytes without a newline");
        return NULL;
    }
    for (size_t j = 0; j < k; j++) {
        unsigned char c = ((const unsigned char *)needle.buf)[j];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c | 0x20);
        lower[j] = c;
        mask[j] = is_lower(c) ? 0x20 : 0;
    }
    PyBuffer_Release(&needle);
    return lc_scan_hits(obj, start, end, icase_finder, &n, out);
}
