/* Memory of the HTTP body path: the output buffers of the body scanners
 * (_json.c, _lokiproto.c), handed to Python without a copy and used again by
 * the next scan, and how much freed memory the allocator keeps.
 *
 * A scan writes a request's lines (about a megabyte) into an lc_out with the
 * GIL released. Copying that into a new bytes object cost a second pass and,
 * worse, fresh memory: the allocator hands a freed megabyte back to the system,
 * so every request took a page fault per 4 KiB, more than the scan itself.
 * Instead the buffer becomes a read-only memoryview over an OutBlock that owns
 * it; when the last reference goes (the ring has copied the lines), the
 * buffer, its pages already touched, goes back to a small pool for the next
 * scan. The pool is only touched with the GIL held.
 *
 * The bodies themselves arrive in chunks that aiohttp and uvloop allocate per
 * read. glibc returns freed heap above a threshold that adapts to the largest
 * block freed (a few hundred KiB here), so the next request's chunks land on
 * fresh pages again: keep_freed_memory raises it for the server's process.
 */
#include "_speedups.h"
#include <limits.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define POOL_MAX 8                  /* buffers kept */
#define KEEP_MAX ((size_t)4 << 20) /* larger ones are freed, not kept */

static lc_out pool[POOL_MAX];
static int npool;

typedef struct {
    PyObject_HEAD
    lc_out out;
} OutBlock;

void
lc_out_take(lc_out *o)
{
    if (npool > 0)
        *o = pool[--npool];
    else
        o->buf = NULL, o->cap = 0;
    o->len = o->most = 0;
    o->over = 0;
}

void
lc_out_give(lc_out *o)
{
    if (o->buf != NULL && o->cap <= KEEP_MAX && npool < POOL_MAX)
        pool[npool++] = *o;
    else
        free(o->buf);
    o->buf = NULL;
    o->len = o->cap = 0;
}

static void
outblock_dealloc(OutBlock *self)
{
    lc_out_give(&self->out);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
outblock_getbuffer(OutBlock *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->out.buf, (Py_ssize_t)self->out.len,
                             1, flags);
}

static PyBufferProcs outblock_as_buffer = {(getbufferproc)outblock_getbuffer, NULL};

static PyTypeObject OutBlockType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "logcaster._speedups.OutBlock",
    .tp_basicsize = sizeof(OutBlock),
    .tp_dealloc = (destructor)outblock_dealloc,
    .tp_as_buffer = &outblock_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A scanner's output lines (read through a memoryview).",
};

PyObject *
lc_out_view(lc_out *o)
{
    if (o->len == 0) {
        lc_out_give(o);
        return PyBytes_FromStringAndSize("", 0);
    }
    OutBlock *b = PyObject_New(OutBlock, &OutBlockType);
    if (b == NULL) {
        lc_out_give(o);
        return NULL;
    }
    b->out = *o;
    o->buf = NULL;
    o->len = o->cap = 0;
    PyObject *view = PyMemoryView_FromObject((PyObject *)b);
    Py_DECREF(b);
    return view;
}

/* keep_freed_memory(trim, mmap) -> bool: freed heap is returned to the system only
 * past `trim` bytes at its top, and only blocks of `mmap` bytes or more get memory
 * of their own (returned when freed). False where the allocator has no such
 * settings (not glibc). */
PyObject *
lc_keep_freed_memory(PyObject *self, PyObject *args)
{
    Py_ssize_t trim, mmap_min;
    if (!PyArg_ParseTuple(args, "nn", &trim, &mmap_min))
        return NULL;
    if (trim < 0 || mmap_min < 0 || trim > INT_MAX || mmap_min > INT_MAX) {
        PyErr_SetString(PyExc_ValueError, "sizes from 0 to 2 GiB");
        return NULL;
    }
#ifdef __GLIBC__
    int ok = mallopt(M_TRIM_THRESHOLD, (int)trim) == 1;
    ok = ok && mallopt(M_MMAP_THRESHOLD, (int)mmap_min) == 1;
    return PyBool_FromLong(ok);
#else
    Py_RETURN_FALSE;
#endif
}

int
lc_out_init(void)
{
    return PyType_Ready(&OutBlockType);
}
