/* C-speed helpers for the ingest and search hot paths.
 *
 * Each function scans a caller-owned buffer between two offsets and releases
 * the GIL while it does so, so worker threads can scan blocks on all cores.
 * Pure-Python equivalents live in logcaster/scan.py; tests check both agree.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

static int
get_range(PyObject *obj, Py_buffer *view, Py_ssize_t start, Py_ssize_t end)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE) < 0)
        return -1;
    if (start < 0 || end < start || end > view->len) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        return -1;
    }
    return 0;
}

/* First occurrence of needle[0:k] in s[0:n], or NULL. Many positions at a
 * time are tested against the needle's first and last bytes (AVX2: 32, SSE2:
 * 16) and only survivors are compared in full; the last positions one by one. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static const char *
find_literal_avx2(const char *s, size_t n, const char *needle, size_t k, size_t *done)
{
    const __m256i first = _mm256_set1_epi8(needle[0]);
    const __m256i last = _mm256_set1_epi8(needle[k - 1]);
    size_t i = 0;
    for (; i + k - 1 + 32 <= n; i += 32) {
        __m256i bf = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i bl = _mm256_loadu_si256((const __m256i *)(s + i + k - 1));
        unsigned mask = (unsigned)_mm256_movemask_epi8(
            _mm256_and_si256(_mm256_cmpeq_epi8(first, bf), _mm256_cmpeq_epi8(last, bl)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (k == 2 || memcmp(s + i + bit + 1, needle + 1, k - 2) == 0)
                return s + i + bit;
            mask &= mask - 1;
        }
    }
    *done = i;
    return NULL;
}
#endif

int lc_has_avx2 = 0;

static const char *
find_literal(const char *s, size_t n, const char *needle, size_t k)
{
    if (k == 0)
        return s;
    if (k == 1)
        return memchr(s, needle[0], n);
    if (n < k)
        return NULL;
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (lc_has_avx2) {
        const char *hit = find_literal_avx2(s, n, needle, k, &i);
        if (hit != NULL)
            return hit;
    }
#endif
#ifdef __SSE2__
    const __m128i first = _mm_set1_epi8(needle[0]);
    const __m128i last = _mm_set1_epi8(needle[k - 1]);
    for (; i + k - 1 + 16 <= n; i += 16) {
        __m128i bf = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i bl = _mm_loadu_si128((const __m128i *)(s + i + k - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(first, bf), _mm_cmpeq_epi8(last, bl)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            if (k == 2 || memcmp(s + i + bit + 1, needle + 1, k - 2) == 0)
                return s + i + bit;
            mask &= mask - 1;
        }
    }
#endif
    /* The last positions (all of them for a short text such as a line): one by one,
     * without memmem's set-up, which costs more than the search here. */
    const char first_c = needle[0], last_c = needle[k - 1];
    for (; i + k <= n; i++)
        if (s[i] == first_c && s[i + k - 1] == last_c && memcmp(s + i + 1, needle + 1, k - 2) == 0)
            return s + i;
    return NULL;
}

const char *
lc_find_literal(const char *s, size_t n, const char *needle, size_t k)
{
    return find_literal(s, n, needle, k);
}

/* clean_lines(buf, start, end, max_line) -> int
 * buf[start:end] ends with '\n'. Returns the number of lines if every line is
 * non-empty, at most max_line bytes and not ended by '\r'; otherwise -1. */
static PyObject *
clean_lines(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t start, end, max_line, count = 0;
    Py_buffer view;
    int clean = 1;
    if (!PyArg_ParseTuple(args, "Onnn", &obj, &start, &end, &max_line))
        return NULL;
    if (get_range(obj, &view, start, end) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    const char *p = (const char *)view.buf + start;
    const char *e = (const char *)view.buf + end;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        if (nl == NULL) {
            clean = 0;
            break;
        }
        Py_ssize_t len = nl - p;
        if (len == 0 || len > max_line || nl[-1] == '\r') {
            clean = 0;
            break;
        }
        count++;
        p = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(clean ? count : -1);
}

/* find_lines(buf, start, end, needle, out) -> int
 * Appends to the array('q') `out` the [line_start, line_end) spans (adjacent
 * lines coalesced) of every line in buf[start:end] containing `needle`, and
 * returns how many lines matched. Lines end with '\n'; needle holds none. */
static int
grow(Py_ssize_t **spans, Py_ssize_t *cap, Py_ssize_t need)
{
    if (need <= *cap)
        return 0;
    Py_ssize_t ncap = *cap ? *cap * 2 : 256;
    while (ncap < need)
        ncap *= 2;
    Py_ssize_t *n = realloc(*spans, (size_t)ncap * sizeof(Py_ssize_t));
    if (n == NULL)
        return -1;
    *spans = n;
    *cap = ncap;
    return 0;
}

int
lc_add_span(Py_ssize_t **spans, Py_ssize_t *nspans, Py_ssize_t *cap, Py_ssize_t s, Py_ssize_t e)
{
    if (*nspans && (*spans)[*nspans - 1] == s) {
        (*spans)[*nspans - 1] = e;
        return 0;
    }
    if (grow(spans, cap, *nspans + 2) < 0)
        return -1;
    (*spans)[(*nspans)++] = s;
    (*spans)[(*nspans)++] = e;
    return 0;
}

int
lc_flush_spans(PyObject *out, Py_ssize_t *spans, Py_ssize_t nspans)
{
    if (nspans == 0) {
        free(spans);
        return 0;
    }
    PyObject *bytes =
        PyBytes_FromStringAndSize((const char *)spans, nspans * (Py_ssize_t)sizeof(Py_ssize_t));
    free(spans);
    if (bytes == NULL)
        return -1;
    PyObject *r = PyObject_CallMethod(out, "frombytes", "O", bytes);
    Py_DECREF(bytes);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

PyObject *
lc_spans_result(PyObject *out, Py_ssize_t *spans, Py_ssize_t nspans, int nomem,
                Py_ssize_t count)
{
    if (nomem) {
        free(spans);
        return PyErr_NoMemory();
    }
    if (lc_flush_spans(out, spans, nspans) < 0)
        return NULL;
    return PyLong_FromSsize_t(count);
}

PyObject *
lc_scan_hits(PyObject *obj, Py_ssize_t start, Py_ssize_t end, lc_finder find, const void *ctx,
             PyObject *out)
{
    Py_buffer view;
    Py_ssize_t count = 0, nspans = 0, cap = 0;
    Py_ssize_t *spans = NULL;
    int nomem = 0;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (start < 0 || end < start || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const unsigned char *base = (const unsigned char *)view.buf;
    const unsigned char *p = base + start, *e = base + end;
    while (p < e) {
        const unsigned char *hit = find(ctx, p, (size_t)(e - p));
        if (hit == NULL)
            break;
        const unsigned char *ls, *le;
        lc_line_around(p, e, hit, &ls, &le);
        if (lc_add_span(&spans, &nspans, &cap, ls - base, le - base) < 0) {
            nomem = 1;
            break;
        }
        count++;
        p = le;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return lc_spans_result(out, spans, nspans, nomem, count);
}

static PyObject *
find_lines(PyObject *self, PyObject *args)
{
    PyObject *obj, *out;
    Py_buffer view, needle;
    Py_ssize_t start, end, count = 0, nspans = 0, cap = 0;
    Py_ssize_t *spans = NULL;
    int nomem = 0;
    if (!PyArg_ParseTuple(args, "Onny*O", &obj, &start, &end, &needle, &out))
        return NULL;
    if (get_range(obj, &view, start, end) < 0) {
        PyBuffer_Release(&needle);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const char *base = (const char *)view.buf;
    const char *p = base + start, *e = base + end;
    while (p < e) {
        const char *hit = find_literal(p, (size_t)(e - p), needle.buf, (size_t)needle.len);
        if (hit == NULL)
            break;
        /* p is always a line start, so the line begins after the last newline before hit. */
        const char *ls = hit > p ? memrchr(p, '\n', (size_t)(hit - p)) : NULL;
        ls = ls ? ls + 1 : p;
        const char *le = memchr(hit, '\n', (size_t)(e - hit));
        le = le ? le + 1 : e;
        Py_ssize_t s = ls - base, t = le - base;
        if (nspans && spans[nspans - 1] == s) {
            spans[nspans - 1] = t;
        } else {
            if (grow(&spans, &cap, nspans + 2) < 0) {
                nomem = 1;
                break;
            }
            spans[nspans++] = s;
            spans[nspans++] = t;
        }
        count++;
        p = le;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyBuffer_Release(&needle);
    if (nomem) {
        free(spans);
        return PyErr_NoMemory();
    }
    if (nspans) {
        PyObject *bytes = PyBytes_FromStringAndSize((const char *)spans,
                                                    nspans * (Py_ssize_t)sizeof(Py_ssize_t));
        free(spans);
        if (bytes == NULL)
            return NULL;
        PyObject *r = PyObject_CallMethod(out, "frombytes", "O", bytes);
        Py_DECREF(bytes);
        if (r == NULL)
            return NULL;
        Py_DECREF(r);
    }
    return PyLong_FromSsize_t(count);
}

/* gather(buf, spans) -> bytes: the concatenation of buf[s:e] for each
 * (s, e) pair of the array('q') `spans`. */
static PyObject *
gather(PyObject *self, PyObject *args)
{
    PyObject *obj, *spans_obj;
    Py_buffer view, spans;
    if (!PyArg_ParseTuple(args, "OO", &obj, &spans_obj))
        return NULL;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(spans_obj, &spans, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const long long *sp = (const long long *)spans.buf;
    Py_ssize_t pairs = spans.len / (Py_ssize_t)(2 * sizeof(long long)), total = 0;
    PyObject *result = NULL;
    for (Py_ssize_t i = 0; i < pairs; i++) {
        if (sp[2 * i] < 0 || sp[2 * i + 1] < sp[2 * i] || sp[2 * i + 1] > view.len) {
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            goto done;
        }
        total += (Py_ssize_t)(sp[2 * i + 1] - sp[2 * i]);
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL)
        goto done;
    char *dst = PyBytes_AS_STRING(result);
    const char *src = (const char *)view.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < pairs; i++) {
        size_t len = (size_t)(sp[2 * i + 1] - sp[2 * i]);
        memcpy(dst, src + sp[2 * i], len);
        dst += len;
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&spans);
    PyBuffer_Release(&view);
    return result;
}

/* count_lines(buf, start, end) -> number of '\n' in buf[start:end]. */
static PyObject *
count_lines(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t start, end, count = 0;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "Onn", &obj, &start, &end))
        return NULL;
    if (get_range(obj, &view, start, end) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    count = lc_count_newlines((const unsigned char *)view.buf + start, (size_t)(end - start));
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

/* prefault(buf): write every page of a fresh buffer once, GIL released, so
 * the page faults are taken here (on a helper thread) and not on the ingest
 * path's first copy into it. The content stays zero. */
static PyObject *
prefault(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "O", &obj))
        return NULL;
    if (PyObject_GetBuffer(obj, &view, PyBUF_WRITABLE) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    volatile char *p = (volatile char *)view.buf;
    for (Py_ssize_t i = 0; i < view.len; i += 4096)
        p[i] = 0;
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"clean_lines", clean_lines, METH_VARARGS,
     "clean_lines(buf, start, end, max_line) -> line count, or -1 if any line needs fixing"},
    {"find_lines", find_lines, METH_VARARGS,
     "find_lines(buf, start, end, needle, out) -> matching lines; spans appended to out"},
    {"gather", gather, METH_VARARGS,
     "gather(buf, spans) -> bytes of buf[s:e] for each (s, e) pair of array('q') spans"},
    {"gather_stamped", lc_gather_stamped, METH_VARARGS,
     "gather_stamped(buf, spans, offs, lo, hi, prefixes, width, descending=False) -> lines, each after its chunk's prefix"},
    {"stamp_into", lc_stamp_into, METH_VARARGS,
     "stamp_into(out, pos, buf, spans, index, at, offs, lo, hi, prefixes, width, descending=False) -> (pos, index, at): the stamped lines that fit in out[pos:]"},
    {"filter_lines", lc_filter_lines, METH_VARARGS,
     "filter_lines(buf, start, end, all, any, levels, out) -> matching lines; spans appended to out"},
    {"line_level", lc_line_level, METH_VARARGS,
     "line_level(line) -> level code of one line (0: none), as levels.level_of"},
    {"encode_records", lc_encode_records, METH_VARARGS,
     "encode_records(out, at, buf, spans, offs, stamps, head, tail, descending, unsure) -> end"},
    {"field_lines", lc_field_lines, METH_VARARGS,
     "field_lines(buf, spans, kind, value, prefix, out, unsure) -> lines whose field matches"},
    {"field_values", lc_field_values, METH_VARARGS,
     "field_values(buf, spans, kind, unsure) -> {value or None: lines}"},
    {"level_lines", lc_level_lines, METH_VARARGS,
     "level_lines(buf, spans, levels, out, unsure) -> lines whose level (numeric JSON first) is in the mask"},
    {"count_lines", count_lines, METH_VARARGS,
     "count_lines(buf, start, end) -> number of newlines in buf[start:end]"},
    {"covered", lc_covered, METH_VARARGS,
     "covered(spans) -> bytes covered by the (start, end) pairs of spans"},
    {"keep_freed_memory", lc_keep_freed_memory, METH_VARARGS,
     "keep_freed_memory(trim, mmap) -> whether the allocator keeps freed memory so"},
    {"prefault", prefault, METH_VARARGS,
     "prefault(buf): touch every page of a writable buffer, GIL released"},
    {"split_frames", lc_split_frames, METH_VARARGS,
     "split_frames(buf, end, max_line, skip, state, out) -> (out_len, pos, skip, state, lines, truncated, malformed)"},
    {"native_strings", lc_native_strings, METH_VARARGS,
     "native_strings(buf) -> (ClickHouse Native String column of buf's lines, line count)"},
    {"native_columns", lc_native_columns, METH_VARARGS,
     "native_columns(bufs, fixes=()) -> (line, level, host, app, facility, fuzzy, counts, "
     "unsure): the store's Native columns of the lines of bufs"},
    {"utf8_valid", lc_utf8_valid, METH_VARARGS,
     "utf8_valid(data) -> whether data is valid UTF-8 (as a strict decode), GIL released"},
    {"find_lines_icase", lc_find_lines_icase, METH_VARARGS,
     "find_lines_icase(buf, start, end, needle, out) -> lines holding needle, ASCII case folded"},
    {"prefix_lines", lc_prefix_lines, METH_VARARGS,
     "prefix_lines(buf, start, end, prefixes, out) -> lines starting with one of prefixes"},
    {"find_lines_spelled", lc_find_lines_spelled, METH_VARARGS,
     "find_lines_spelled(buf, start, end, spellings, out) -> lines holding one spelling"},
    {"ndjson_scan", lc_ndjson_scan, METH_VARARGS,
     "ndjson_scan(body, max_line) -> (block, lines, truncated, malformed, bad_start, bad_end) or a status"},
    {"loki_json_scan", lc_loki_json_scan, METH_VARARGS,
     "loki_json_scan(body, max_line, most=0) -> (block, lines, truncated) or a status"},
    {"bulk_scan", lc_bulk_scan, METH_VARARGS,
     "bulk_scan(body, max_line, index, prefix) -> (block, lines, truncated, malformed, items, "
     "nitems, err_start, err_end) or a status"},
    {"loki_proto_labels", lc_loki_proto_labels, METH_VARARGS,
     "loki_proto_labels(raw) -> label text of each stream of a PushRequest, or a status"},
    {"loki_proto_scan", lc_loki_proto_scan, METH_VARARGS,
     "loki_proto_scan(raw, suffixes, max_line, most=0) -> (block, lines, truncated) or a status"},
    {"otlp_logs_scan", lc_otlp_logs_scan, METH_VARARGS,
     "otlp_logs_scan(body, max_line, most=0) -> (block, lines, truncated) of an OTLP logs request, "
     "or a status"},
    {"otlp_json_scan", lc_otlp_json_scan, METH_VARARGS,
     "otlp_json_scan(body, max_line, most=0) -> (block, lines, truncated) of an OTLP logs "
     "request in OTLP JSON, or a status"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "logcaster._speedups", NULL, -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    /* LOGCASTER_NO_AVX2 (any non-empty value): the SSE2 paths a CPU without AVX2
     * takes, here too (the tests run them so) */
    const char *no_avx2 = getenv("LOGCASTER_NO_AVX2");
    lc_has_avx2 = __builtin_cpu_supports("avx2") && !(no_avx2 && *no_avx2);
#endif
    lc_json_init();
    lc_escape_init();
    if (lc_float_init() < 0) {
        PyErr_SetString(PyExc_OSError, "no C locale");
        return NULL;
    }
    if (lc_out_init() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "avx2", lc_has_avx2) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
