/* UTF-8 validation of reply chunks, GIL released.
 *
 * utf8_valid(data) -> bool: whether `data` is valid UTF-8 by the rules of
 * Python's strict decoder (no overlong forms, no surrogates, nothing above
 * U+10FFFF, no truncated sequence). ASCII runs are skipped 32 (AVX2) or 16
 * (SSE2) bytes at a time; only the bytes around a non-ASCII one are checked one
 * by one. logcaster.scan.py_utf8_valid is the reference; tests compare them.
 */
#include "_speedups.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Length of the valid sequence at s[0:n] (s[0] >= 0x80), or 0 if invalid. */
static size_t
sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    unsigned lo = 0x80, hi = 0xBF;
    size_t len;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        len = 2;
    } else if (c < 0xF0) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static size_t
ascii_run_avx2(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        unsigned mask = (unsigned)_mm256_movemask_epi8(v);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
    if (i < n && n >= 32) { /* the rest as the 32 bytes that end at n (those before i: ASCII) */
        unsigned mask = (unsigned)_mm256_movemask_epi8(
            _mm256_loadu_si256((const __m256i *)(s + n - 32)));
        return mask ? n - 32 + (size_t)__builtin_ctz(mask) : n;
    }
    return i;
}
#endif

/* Index of the first non-ASCII byte of s[0:n], or n. */
static size_t
ascii_run(const unsigned char *s, size_t n, int avx2)
{
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (avx2 && n >= 32)
        return ascii_run_avx2(s, n); /* exact: its last step ends at n */
#else
    (void)avx2;
#endif
#ifdef __SSE2__
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned mask = (unsigned)_mm_movemask_epi8(v);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
    if (i < n && n >= 16) { /* as above, 16 bytes */
        unsigned mask =
            (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(s + n - 16)));
        return mask ? n - 16 + (size_t)__builtin_ctz(mask) : n;
    }
#endif
    while (i < n && s[i] < 0x80)
        i++;
    return i;
}

static int
valid(const unsigned char *s, size_t n, int avx2)
{
    size_t i = 0;
    while (i < n) {
        i += ascii_run(s + i, n - i, avx2);
        /* Mixed text, a character at a time, until 8 ASCII bytes in a row. */
        while (i < n) {
            unsigned c = s[i];
            if (c < 0x80) {
                uint64_t w;
                if (i + 8 > n) {
                    i++;
                    continue;
                }
                memcpy(&w, s + i, 8);
                w &= 0x8080808080808080ULL;
                if (w == 0)
                    break;
                i += (size_t)__builtin_ctzll(w) / 8;
                continue;
            }
            if (c >= 0xC2 && c < 0xE0 && i + 1 < n && (s[i + 1] & 0xC0) == 0x80) {
                i += 2;
                continue;
            }
            size_t len = sequence(s + i, n - i);
            if (len == 0)
                return 0;
            i += len;
        }
    }
    return 1;
}

int
lc_utf8_check(const unsigned char *s, size_t n)
{
    return valid(s, n, lc_has_avx2);
}

PyObject *
lc_utf8_valid(PyObject *self, PyObject *args)
{
    Py_buffer data;
    int ok;
    if (!PyArg_ParseTuple(args, "y*", &data))
        return NULL;
    if (data.len < 4096) {
        ok = valid(data.buf, (size_t)data.len, lc_has_avx2);
    } else {
        Py_BEGIN_ALLOW_THREADS
        ok = valid(data.buf, (size_t)data.len, lc_has_avx2);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data);
    return PyBool_FromLong(ok);
}
