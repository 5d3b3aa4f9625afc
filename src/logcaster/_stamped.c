/* gather_stamped: matching lines, each after its chunk's time prefix, in one buffer.
 *
 * A reply of every line held is ~1 M lines: a memchr call per line to find its end
 * (twice: once to size the output, once to copy) cost more than the copies. Here the
 * line ends come from a 64-byte newline bitmask (AVX2 where the CPU has it), the
 * sizing pass counts newlines 32 bytes at a time, and both passes run with the GIL
 * released. */
#define _GNU_SOURCE
#include "_speedups.h"

#include <stdint.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define LC_STAMPED_AVX2 1
#endif

/* Bit i set where p[i] == '\n', for i < n (n <= 64). */
static inline uint64_t
nl_mask_scalar(const unsigned char *p, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m |= (uint64_t)(p[i] == '\n') << i;
    return m;
}

#ifdef LC_STAMPED_AVX2
__attribute__((target("avx2"))) static inline uint64_t
nl_mask_avx2(const unsigned char *p)
{
    const __m256i nl = _mm256_set1_epi8('\n');
    __m256i a = _mm256_loadu_si256((const __m256i *)p);
    __m256i b = _mm256_loadu_si256((const __m256i *)(p + 32));
    uint32_t lo = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nl));
    uint32_t hi = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(b, nl));
    return (uint64_t)lo | ((uint64_t)hi << 32);
}
#endif

/* Newline bits of p[0:n], n <= 64, never reading past p + n. */
static inline uint64_t
nl_mask(const unsigned char *p, size_t n)
{
#ifdef LC_STAMPED_AVX2
    if (n == 64 && lc_has_avx2)
        return nl_mask_avx2(p);
#endif
    if (n == 64) {
        uint64_t m = 0;
        for (size_t i = 0; i < 64; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            w ^= 0x0A0A0A0A0A0A0A0AULL;
            /* A zero byte of w is a newline of p: exact test per byte. */
            uint64_t z = ~(((w & 0x7F7F7F7F7F7F7F7FULL) + 0x7F7F7F7F7F7F7F7FULL) | w |
                           0x7F7F7F7F7F7F7F7FULL);
            while (z) {
                int bit = __builtin_ctzll(z);
                m |= 1ULL << (i + (size_t)(bit >> 3));
                z &= z - 1;
            }
        }
        return m;
    }
    return nl_mask_scalar(p, n);
}

#ifdef LC_STAMPED_AVX2
__attribute__((target("avx2,popcnt"))) static Py_ssize_t
count_newlines_avx2(const unsigned char *p, size_t n, size_t *done)
{
    Py_ssize_t lines = 0;
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        lines += (Py_ssize_t)_mm_popcnt_u64(nl_mask_avx2(p + i));
    *done = i;
    return lines;
}
#endif

/* Lines of p[0:n]: newlines, plus one for an unterminated last line. */
static Py_ssize_t
count_span_lines(const unsigned char *p, size_t n)
{
    Py_ssize_t lines = 0;
    size_t i = 0;
#ifdef LC_STAMPED_AVX2
    if (lc_has_avx2)
        lines = count_newlines_avx2(p, n, &i);
#endif
    for (; i < n; i++)
        lines += p[i] == '\n';
    if (n && p[n - 1] != '\n')
        lines++;
    return lines;
}

static inline void
put_prefix(char **dst, const char *pre, Py_ssize_t width)
{
    if (width == 22) /* "[YYYY-MM-DD HH:MM:SS] ": a fixed-size copy, inlined */
        memcpy(*dst, pre, 22);
    else
        memcpy(*dst, pre, (size_t)width);
    *dst += width;
}

/* Copy the lines of [s, e) oldest first, each after its chunk's prefix; `c` is the
 * chunk of the line at s or an earlier one, and is moved on as lines pass chunk starts.
 * Defined twice: with the AVX2 mask inlined, and with the portable one. */
#define COPY_ASCENDING(ATTR, NAME, MASK64)                                                  \
    ATTR static char *NAME(char *dst, const char *src, const char *s, const char *e,        \
                           const long long *of, Py_ssize_t *c, Py_ssize_t lo, Py_ssize_t hi, \
                           const char *pre, Py_ssize_t width)                               \
    {                                                                                       \
        const char *base = s, *line = s;                                                    \
        while (base < e) {                                                                  \
            size_t n = (size_t)(e - base) < 64 ? (size_t)(e - base) : 64;                   \
            uint64_t m = n == 64 ? MASK64((const unsigned char *)base)                      \
                                 : nl_mask_scalar((const unsigned char *)base, n);          \
            const char *end = base + n;                                                     \
            for (;;) {                                                                      \
                const char *le = m ? base + __builtin_ctzll(m) + 1 : NULL;                  \
                if (le == NULL && (end < e || line == e))                                   \
                    break;                                                                  \
                if (le == NULL)                                                             \
                    le = e; /* an unterminated last line */                                 \
                m &= m - 1;                                                                 \
                long long at = line - src;                                                  \
                while (*c + 1 < hi && of[*c + 1] <= at)                                     \
                    (*c)++;                                                                 \
                put_prefix(&dst, pre + (*c - lo) * width, width);                           \
                memcpy(dst, line, (size_t)(le - line));                                     \
                dst += le - line;                                                           \
                line = le;                                                                  \
                if (le == e)                                                                \
                    break;                                                                  \
            }                                                                               \
            base = end;                                                                     \
        }                                                                                   \
        return dst;                                                                         \
    }

static inline uint64_t
nl_mask64(const unsigned char *p)
{
    return nl_mask(p, 64);
}

COPY_ASCENDING(, copy_ascending, nl_mask64)
#ifdef LC_STAMPED_AVX2
COPY_ASCENDING(__attribute__((target("avx2"))), copy_ascending_avx2, nl_mask_avx2)
#endif

/* gather_stamped(buf, spans, offs, lo, hi, prefixes, width, descending=False) -> bytes
 * Like gather, but every line is preceded by its chunk's prefix: line at
 * offset x belongs to the last chunk c in [lo, hi) with offs[c] <= x, and its
 * prefix is prefixes[(c - lo) * width : (c - lo + 1) * width]. Spans ascend.
 * With `descending` true the lines come newest first (the spans read backwards). */
PyObject *
lc_gather_stamped(PyObject *self, PyObject *args)
{
    PyObject *obj, *spans_obj, *offs_obj;
    Py_buffer view, spans, offs, prefixes;
    Py_ssize_t lo, hi, width;
    int descending = 0;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "OOOnny*n|p", &obj, &spans_obj, &offs_obj, &lo, &hi,
                          &prefixes, &width, &descending))
        return NULL;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        goto out_prefixes;
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_SIMPLE) < 0)
        goto out_view;
    if (PyObject_GetBuffer(offs_obj, &offs, PyBUF_SIMPLE) < 0)
        goto out_spans;
    const long long *sp = (const long long *)spans.buf;
    const long long *of = (const long long *)offs.buf;
    Py_ssize_t pairs = spans.len / (Py_ssize_t)(2 * sizeof(long long));
    Py_ssize_t noffs = offs.len / (Py_ssize_t)sizeof(long long);
    const char *src = (const char *)view.buf;
    if (lo < 0 || hi > noffs || lo >= hi || width < 0 || prefixes.len < (hi - lo) * width) {
        PyErr_SetString(PyExc_ValueError, "bad chunk range or prefixes");
        goto out_offs;
    }
    Py_ssize_t total = 0, lines = 0;
    for (Py_ssize_t i = 0; i < pairs; i++) {
        if (sp[2 * i] < 0 || sp[2 * i + 1] < sp[2 * i] || sp[2 * i + 1] > view.len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto out_offs;
        }
        total += (Py_ssize_t)(sp[2 * i + 1] - sp[2 * i]);
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < pairs; i++)
        lines += count_span_lines((const unsigned char *)src + sp[2 * i],
                                  (size_t)(sp[2 * i + 1] - sp[2 * i]));
    Py_END_ALLOW_THREADS
    result = PyBytes_FromStringAndSize(NULL, total + lines * width);
    if (result == NULL)
        goto out_offs;
    char *dst = PyBytes_AS_STRING(result);
    const char *pre = (const char *)prefixes.buf;
    Py_BEGIN_ALLOW_THREADS
    if (descending) {
        Py_ssize_t c = hi - 1;
        for (Py_ssize_t i = pairs - 1; i >= 0; i--) {
            const char *s = src + sp[2 * i], *e = src + sp[2 * i + 1];
            while (e > s) {
                const char *nl = e - 1 > s ? memrchr(s, '\n', (size_t)(e - 1 - s)) : NULL;
                const char *ls = nl ? nl + 1 : s;
                long long at = ls - src;
                while (c > lo && of[c] > at)
                    c--;
                put_prefix(&dst, pre + (c - lo) * width, width);
                memcpy(dst, ls, (size_t)(e - ls));
                dst += e - ls;
                e = ls;
            }
        }
    }
    else {
        Py_ssize_t c = lo;
        for (Py_ssize_t i = 0; i < pairs; i++) {
            const char *s = src + sp[2 * i], *e = src + sp[2 * i + 1];
#ifdef LC_STAMPED_AVX2
            if (lc_has_avx2) {
                dst = copy_ascending_avx2(dst, src, s, e, of, &c, lo, hi, pre, width);
                continue;
            }
#endif
            dst = copy_ascending(dst, src, s, e, of, &c, lo, hi, pre, width);
        }
    }
    Py_END_ALLOW_THREADS
out_offs:
    PyBuffer_Release(&offs);
out_spans:
    PyBuffer_Release(&spans);
out_view:
    PyBuffer_Release(&view);
out_prefixes:
    PyBuffer_Release(&prefixes);
    return result;
}
