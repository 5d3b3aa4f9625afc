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

/* ------------------------------------------------------------ whole batches */

/* The level names of the level codes (logcaster.query.levels.LEVEL_CODES). */
static const char *const LEVEL_NAMES[11] = {"",     "TRACE",    "DEBUG", "INFO",  "NOTICE", "WARN",
                                            "ERROR", "CRITICAL", "FATAL", "ALERT", "EMERG"};

typedef struct {
    char *buf;
    size_t len, cap;
} gbuf_t;

static int
gbuf_reserve(gbuf_t *g, size_t more)
{
    if (g->len + more <= g->cap)
        return 0;
    size_t cap = g->cap ? g->cap : 4096;
    while (cap < g->len + more)
        cap *= 2;
    char *b = realloc(g->buf, cap);
    if (b == NULL)
        return -1;
    g->buf = b;
    g->cap = cap;
    return 0;
}

/* A String value (varint length, bytes) onto g. */
static int
gbuf_string(gbuf_t *g, const void *s, size_t n)
{
    if (gbuf_reserve(g, n + 10) < 0)
        return -1;
    char *out = put_varint(g->buf + g->len, n);
    memcpy(out, s, n);
    g->len = (size_t)(out + n - g->buf);
    return 0;
}

/* A fix: the values the Python reference gave one row the C reader left undecided. */
typedef struct {
    Py_ssize_t row;
    const unsigned char *v[3];
    size_t vn[3];
    unsigned char fuzzy;
} fix_t;

typedef struct {
    Py_ssize_t row, buf, start, len;
} spot_t;

static int
parse_fixes(PyObject *tuple, fix_t **out, Py_ssize_t *count)
{
    Py_ssize_t k = PyTuple_GET_SIZE(tuple);
    *count = k;
    *out = calloc(k ? (size_t)k : 1, sizeof(fix_t));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *t = PyTuple_GET_ITEM(tuple, i);
        fix_t *f = &(*out)[i];
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 5) {
            PyErr_SetString(PyExc_TypeError, "a fix is (row, host, app, facility, fuzzy)");
            return -1;
        }
        f->row = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 0));
        long fuzzy = PyLong_AsLong(PyTuple_GET_ITEM(t, 4));
        if (PyErr_Occurred())
            return -1;
        if (i && f->row <= (*out)[i - 1].row) {
            PyErr_SetString(PyExc_ValueError, "fixes must be in increasing row order");
            return -1;
        }
        f->fuzzy = fuzzy != 0;
        for (int j = 0; j < 3; j++) {
            PyObject *v = PyTuple_GET_ITEM(t, j + 1);
            if (v == Py_None)
                continue;
            if (!PyBytes_Check(v)) {
                PyErr_SetString(PyExc_TypeError, "a fixed value is bytes or None");
                return -1;
            }
            f->v[j] = (const unsigned char *)PyBytes_AS_STRING(v);
            f->vn[j] = (size_t)PyBytes_GET_SIZE(v);
        }
    }
    return 0;
}

/* A Nullable(String) column: the null map, then the strings (a null one empty). */
static PyObject *
nullable_bytes(const unsigned char *nulls, Py_ssize_t rows, const gbuf_t *g)
{
    PyObject *out = PyBytes_FromStringAndSize(NULL, rows + (Py_ssize_t)g->len);
    if (out == NULL)
        return NULL;
    char *d = PyBytes_AS_STRING(out);
    if (rows)
        memcpy(d, nulls, (size_t)rows);
    if (g->len)
        memcpy(d + rows, g->buf, g->len);
    return out;
}

/* native_columns(bufs, fixes=()) -> (line, level, host, app, facility, fuzzy, counts,
 * unsure): the Native columns of the lines of every buffer of `bufs`, in one pass with
 * the GIL released. `counts`: the line count of each buffer (int64s); `unsure`: (row,
 * line) of the rows whose host, app or facility the C reader left to the Python
 * reference (written as NULL, fuzzy 0); `fixes`: (row, host, app, facility, fuzzy) in
 * increasing row order, written in place of the C reader's values. */
PyObject *
lc_native_columns(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *bufs_obj, *fixes_obj = NULL;
    if (!PyArg_ParseTuple(args, "O|O", &bufs_obj, &fixes_obj))
        return NULL;
    PyObject *bufs = PySequence_Tuple(bufs_obj);
    if (bufs == NULL)
        return NULL;
    PyObject *fixes = fixes_obj ? PySequence_Tuple(fixes_obj) : PyTuple_New(0);
    if (fixes == NULL) {
        Py_DECREF(bufs);
        return NULL;
    }
    PyObject *result = NULL, *line_col = NULL, *counts_obj = NULL;
    Py_ssize_t nbufs = PyTuple_GET_SIZE(bufs), held = 0, nfixes = 0, rows = 0, nspots = 0,
               capspots = 0;
    Py_buffer *views = calloc(nbufs ? (size_t)nbufs : 1, sizeof(Py_buffer));
    fix_t *fx = NULL;
    spot_t *spots = NULL;
    unsigned char *nulls[3] = {NULL, NULL, NULL}, *fuzzy = NULL;
    gbuf_t level = {0}, vals[3] = {{0}, {0}, {0}};
    lc_scratch sc[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    int nomem = 0;
    size_t size = 0;
    if (views == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; held < nbufs; held++)
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(bufs, held), &views[held], PyBUF_SIMPLE) < 0)
            goto done;
    if (parse_fixes(fixes, &fx, &nfixes) < 0)
        goto done;
    counts_obj = PyBytes_FromStringAndSize(NULL, nbufs * (Py_ssize_t)sizeof(long long));
    if (counts_obj == NULL)
        goto done;
    long long *counts = (long long *)PyBytes_AS_STRING(counts_obj);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t b = 0; b < nbufs; b++) {
        const char *s = views[b].buf, *end = s + views[b].len, *nl;
        long long n = 0;
        while (s < end && (nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
            size += varint_size((size_t)(nl - s)) + (size_t)(nl - s);
            n++;
            s = nl + 1;
        }
        counts[b] = n;
        rows += (Py_ssize_t)n;
    }
    Py_END_ALLOW_THREADS
    line_col = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (line_col == NULL)
        goto done;
    for (int k = 0; k < 3; k++)
        if ((nulls[k] = malloc(rows ? (size_t)rows : 1)) == NULL)
            nomem = 1;
    if ((fuzzy = malloc(rows ? (size_t)rows : 1)) == NULL)
        nomem = 1;
    if (nomem) {
        PyErr_NoMemory();
        goto done;
    }
    char *dst = PyBytes_AS_STRING(line_col);
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t row = 0, next_fix = 0;
    for (Py_ssize_t b = 0; b < nbufs && !nomem; b++) {
        const unsigned char *base = views[b].buf, *s = base, *end = s + views[b].len, *nl;
        while (s < end && (nl = memchr(s, '\n', (size_t)(end - s))) != NULL) {
            size_t len = (size_t)(nl - s);
            dst = put_varint(dst, len);
            memcpy(dst, s, len);
            dst += len;
            const char *name = LEVEL_NAMES[lc_level_code(s, len)];
            if (gbuf_string(&level, name, strlen(name)) < 0) {
                nomem = 1;
                break;
            }
            const unsigned char *v[3];
            size_t vn[3];
            unsigned char fz = 0;
            if (next_fix < nfixes && fx[next_fix].row == row) {
                for (int k = 0; k < 3; k++) {
                    v[k] = fx[next_fix].v[k];
                    vn[k] = fx[next_fix].vn[k];
                }
                fz = fx[next_fix++].fuzzy;
            } else if (lc_line_fields(s, len, sc, v, vn)) {
                if (nspots == capspots) {
                    capspots = capspots ? capspots * 2 : 16;
                    spot_t *grown = realloc(spots, (size_t)capspots * sizeof(spot_t));
                    if (grown == NULL) {
                        nomem = 1;
                        break;
                    }
                    spots = grown;
                }
                spots[nspots++] = (spot_t){row, b, (Py_ssize_t)(s - base), (Py_ssize_t)len};
                v[0] = v[1] = v[2] = NULL;
            }
            for (int k = 0; k < 3; k++) {
                nulls[k][row] = v[k] == NULL;
                if (gbuf_string(&vals[k], v[k] ? v[k] : (const unsigned char *)"", vn[k]) < 0)
                    nomem = 1;
            }
            fuzzy[row] = fz;
            row++;
            s = nl + 1;
        }
    }
    Py_END_ALLOW_THREADS
    if (nomem) {
        PyErr_NoMemory();
        goto done;
    }
    PyObject *unsure = PyList_New(nspots);
    if (unsure == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < nspots; i++) {
        const char *at = (const char *)views[spots[i].buf].buf + spots[i].start;
        PyObject *item = Py_BuildValue("(ny#)", spots[i].row, at, spots[i].len);
        if (item == NULL) {
            Py_DECREF(unsure);
            goto done;
        }
        PyList_SET_ITEM(unsure, i, item);
    }
    result = Py_BuildValue(
        "(ONNNNNON)", line_col, PyBytes_FromStringAndSize(level.buf ? level.buf : "", (Py_ssize_t)level.len),
        nullable_bytes(nulls[0], rows, &vals[0]), nullable_bytes(nulls[1], rows, &vals[1]),
        nullable_bytes(nulls[2], rows, &vals[2]), PyBytes_FromStringAndSize((char *)fuzzy, rows),
        counts_obj, unsure);
done:
    Py_XDECREF(line_col);
    Py_XDECREF(counts_obj);
    for (Py_ssize_t i = 0; i < held; i++)
        PyBuffer_Release(&views[i]);
    free(views);
    free(fx);
    free(spots);
    free(fuzzy);
    free(level.buf);
    for (int k = 0; k < 3; k++) {
        free(nulls[k]);
        free(vals[k].buf);
        free(sc[k].buf);
    }
    Py_DECREF(fixes);
    Py_DECREF(bufs);
    return result;
}
