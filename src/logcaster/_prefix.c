/* Lines starting with one of a few prefixes, GIL released.
 *
 * prefix_lines(buf, start, end, prefixes, out) -> int: appends to the
 * array('q') `out` the spans (adjacent lines joined) of the lines of
 * buf[start:end] that start with one of the bytes objects of the tuple
 * `prefixes`, and returns their number. The prefilter of regexes anchored at a
 * line's start (logcaster.query.literals). Reference: matcher.py_prefix_lines.
 */
#include "_speedups.h"
#include <string.h>

#define MAX_PREFIXES 64

PyObject *
lc_prefix_lines(PyObject *self, PyObject *args)
{
    PyObject *obj, *tuple, *out;
    Py_buffer view;
    Py_ssize_t start, end, count = 0, nspans = 0, cap = 0;
    Py_ssize_t *spans = NULL;
    const char *pre[MAX_PREFIXES];
    size_t len[MAX_PREFIXES];
    unsigned char firsts[256] = {0};
    int nomem = 0, any_empty = 0;
    if (!PyArg_ParseTuple(args, "OnnO!O", &obj, &start, &end, &PyTuple_Type, &tuple, &out))
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    if (n > MAX_PREFIXES) {
        PyErr_SetString(PyExc_ValueError, "too many prefixes");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyBytes_Check(item)) {
            PyErr_SetString(PyExc_TypeError, "prefixes must be bytes");
            return NULL;
        }
        pre[i] = PyBytes_AS_STRING(item);
        len[i] = (size_t)PyBytes_GET_SIZE(item);
        if (len[i] == 0)
            any_empty = 1;
        else
            firsts[(unsigned char)pre[i][0]] = 1;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (start < 0 || end < start || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        return NULL;
    }
    /* The tuple keeps the prefixes alive; bytes are immutable. */
    Py_BEGIN_ALLOW_THREADS
    const char *base = (const char *)view.buf;
    const char *p = base + start, *e = base + end;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl + 1 : e;
        size_t have = (size_t)((nl ? nl : e) - p);
        int hit = any_empty;
        if (!hit && have && firsts[(unsigned char)p[0]]) {
            for (Py_ssize_t i = 0; i < n; i++) {
                if (len[i] <= have && memcmp(p, pre[i], len[i]) == 0) {
                    hit = 1;
                    break;
                }
            }
        }
        if (hit) {
            if (lc_add_span(&spans, &nspans, &cap, p - base, le - base) < 0) {
                nomem = 1;
                break;
            }
            count++;
        }
        p = le;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return lc_spans_result(out, spans, nspans, nomem, count);
}
