/* ClickHouse's Native format for the store's String columns, built from ring blocks
 * in one pass with the GIL released: each newline-terminated line becomes its
 * byte count as an unsigned LEB128 varint followed by its bytes (the newline
 * dropped); bytes after the last newline are not a line. */
#include "_speedups.h"
#include <string.h>

static size_t varint_size(size_t n)
{
    size_t k = 1;
    while (n >= 0x80) {
        n >>= 7;
        k++;
    }
    return k;
}

static char *put_varint(char *out, size_t n)
{
    while (n >= 0x80) {
        *out++ = (char)((n & 0x7f) | 0x80);
        n >>= 7;
    }
    *out++ = (char)n;
    return out;
}

PyObject *lc_native_strings(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    const char *start = view.buf, *end = start + view.len;
    Py_ssize_t lines = 0;
    size_t size = 0;
    Py_BEGIN_ALLOW_THREADS
    const char *s = start, *nl;
    while (s < end && (nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        size_t len = (size_t)(nl - s);
        size += varint_size(len) + len;
        lines++;
        s = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (out == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    char *dst = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    const char *s = start, *nl;
    while (s < end && (nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        size_t len = (size_t)(nl - s);
        dst = put_varint(dst, len);
        memcpy(dst, s, len);
        dst += len;
        s = nl + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(Nn)", out, lines);
}
