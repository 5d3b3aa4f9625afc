/* RFC 6587 octet-counted framing: the frame loop of inputs/octet.py in C.
 *
 * split_frames() takes one receive buffer (a pending partial frame followed by
 * the bytes just read) and writes the complete entries, newline-terminated and
 * cleaned, into a caller-owned output buffer, with the GIL released. It keeps
 * exactly the semantics of the pure-Python reference, py_split_frames in
 * inputs/octet_split.py (tests compare both on arbitrary streams and cuts):
 *
 *   - "LEN SP MSG" with 1 <= LEN <= max_line: MSG is one entry; its trailing
 *     CR/LF/NUL are dropped and an inner "\r\n" or "\n" is stored as "#012";
 *     an entry that ends up empty is skipped.
 *   - LEN > max_line and MSG starting with "<": the first max_line bytes of
 *     MSG, cleaned, then "..." (truncated); the rest of MSG is skipped.
 *   - CR, LF and NUL between frames are skipped.
 *   - anything else where a count is due (not digits, a leading zero, ten or
 *     more digits, a long count without "<"): malformed; the text up to the
 *     next newline is one entry (CR/NUL stripped from its end, cut to max_line
 *     with "..." when longer), then frames are expected again.
 *
 * It stops where the rest of the buffer cannot be decided yet (a frame or a
 * count still arriving) and returns that position, with the state to carry to
 * the next read: bytes of an over-long frame still to skip, and whether a
 * malformed stretch of text (and, if it was already cut, its discarding) runs
 * on. The output needs at most 4 bytes per input byte ("\n" -> "#012").
 */
#include "_speedups.h"
#include <string.h>

#define MAX_COUNT_DIGITS 9
#define STATE_TEXT 1
#define STATE_DISCARD 2

typedef struct {
    const unsigned char *buf;
    Py_ssize_t end;
    unsigned char *out;
    Py_ssize_t n; /* bytes written to out */
    Py_ssize_t max_line;
    long long skip;
    int state;
    Py_ssize_t lines, truncated, malformed;
} Split;

static inline int
between(unsigned char c)
{
    return c == '\r' || c == '\n' || c == '\0';
}

static inline int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* One frame's message as stored: trailing CR/LF/NUL dropped, inner newlines
 * escaped, "..." after it when cut; nothing when it is left empty. */
static void
emit_frame(Split *s, const unsigned char *m, Py_ssize_t len, int ellipsis)
{
    while (len > 0 && between(m[len - 1]))
        len--;
    if (len == 0 && !ellipsis)
        return;
    unsigned char *w = s->out + s->n;
    const unsigned char *p = m, *e = m + len;
    const unsigned char *nl = memchr(p, '\n', (size_t)len);
    while (nl != NULL) {
        Py_ssize_t k = nl - p;
        if (k > 0 && nl[-1] == '\r')
            k--;
        memcpy(w, p, (size_t)k);
        w += k;
        memcpy(w, "#012", 4);
        w += 4;
        p = nl + 1;
        nl = memchr(p, '\n', (size_t)(e - p));
    }
    memcpy(w, p, (size_t)(e - p));
    w += e - p;
    if (ellipsis) {
        memcpy(w, "...", 3);
        w += 3;
    }
    *w++ = '\n';
    s->n = w - s->out;
    s->lines++;
}

/* A malformed stretch's text, stored as it came (it holds no newline). */
static void
emit_text(Split *s, const unsigned char *t, Py_ssize_t len, int strip)
{
    int cut = 0;
    if (strip) {
        while (len > 0 && (t[len - 1] == '\r' || t[len - 1] == '\0'))
            len--;
        if (len > s->max_line) {
            len = s->max_line;
            cut = 1;
        }
    }
    else {
        cut = 1; /* the caller passes the first max_line bytes of a longer stretch */
    }
    if (len == 0)
        return;
    unsigned char *w = s->out + s->n;
    memcpy(w, t, (size_t)len);
    w += len;
    if (cut) {
        memcpy(w, "...", 3);
        w += 3;
        s->truncated++;
    }
    *w++ = '\n';
    s->n = w - s->out;
    s->lines++;
}

/* The text of a malformed stretch up to its newline; returns where reading
 * goes on. The state keeps STATE_TEXT while the newline has not come. */
static Py_ssize_t
text_until_newline(Split *s, Py_ssize_t pos)
{
    const unsigned char *b = s->buf;
    Py_ssize_t end = s->end, max_line = s->max_line;
    const unsigned char *hit = memchr(b + pos, '\n', (size_t)(end - pos));
    int discard = (s->state & STATE_DISCARD) != 0;
    if (hit == NULL) {
        if (!discard && end - pos > max_line + 1) {
            emit_text(s, b + pos, max_line, 0);
            s->state |= STATE_DISCARD;
            discard = 1;
        }
        return discard ? end : pos;
    }
    Py_ssize_t nl = hit - b;
    if (!discard) {
        if (nl - pos > max_line + 1)
            emit_text(s, b + pos, max_line, 0);
        else
            emit_text(s, b + pos, nl - pos, 1);
    }
    s->state = 0;
    return nl + 1;
}

static Py_ssize_t
split(Split *s)
{
    const unsigned char *b = s->buf;
    Py_ssize_t end = s->end, max_line = s->max_line, pos = 0;
    while (pos < end) {
        if (s->skip) { /* the rest of a frame cut to max_line */
            Py_ssize_t n = end - pos;
            if ((long long)n > s->skip)
                n = (Py_ssize_t)s->skip;
            s->skip -= n;
            pos += n;
            continue;
        }
        if (s->state & STATE_TEXT) {
            pos = text_until_newline(s, pos);
            if (s->state & STATE_TEXT)
                break;
            continue;
        }
        Py_ssize_t limit = pos + MAX_COUNT_DIGITS + 1;
        if (limit > end)
            limit = end;
        const unsigned char *hit = memchr(b + pos, ' ', (size_t)(limit - pos));
        Py_ssize_t sp = hit != NULL ? hit - b : -1;
        if (sp > pos && b[pos] != '0') {
            long long size = 0;
            Py_ssize_t i = pos;
            for (; i < sp && is_digit(b[i]); i++)
                size = size * 10 + (b[i] - '0');
            if (i == sp) {
                if (size <= max_line) {
                    Py_ssize_t frame_end = sp + 1 + (Py_ssize_t)size;
                    if (frame_end > end)
                        break; /* the frame is still arriving */
                    emit_frame(s, b + sp + 1, (Py_ssize_t)size, 0);
                    pos = frame_end;
                    continue;
                }
                if (sp + 1 < end && b[sp + 1] == '<') { /* a frame too long to keep */
                    if (sp + 1 + max_line > end)
                        break; /* its head is still arriving */
                    emit_frame(s, b + sp + 1, max_line, 1);
                    s->truncated++;
                    s->skip = size - max_line;
                    pos = sp + 1 + max_line;
                    continue;
                }
                if (sp + 1 == end)
                    break; /* whether it is a frame shows with the next byte */
            }
        }
        if (between(b[pos])) {
            pos++;
            continue;
        }
        if (sp < 0 && end - pos <= MAX_COUNT_DIGITS) {
            Py_ssize_t i = pos;
            while (i < end && is_digit(b[i]))
                i++;
            if (i == end)
                break; /* a count still arriving */
        }
        s->malformed++; /* no count where one was due: keep the text to the newline */
        s->state = STATE_TEXT;
    }
    return pos;
}

/* split_frames(buf, end, max_line, skip, state, out)
 *   -> (out_len, pos, skip, state, lines, truncated, malformed) */
PyObject *
lc_split_frames(PyObject *self, PyObject *args)
{
    PyObject *bufobj, *outobj;
    Py_ssize_t end, max_line;
    long long skip;
    int state;
    Py_buffer in, out;
    if (!PyArg_ParseTuple(args, "OnnLiO", &bufobj, &end, &max_line, &skip, &state, &outobj))
        return NULL;
    if (max_line < 1 || skip < 0 || state < 0 || state > (STATE_TEXT | STATE_DISCARD)) {
        PyErr_SetString(PyExc_ValueError, "bad framing state");
        return NULL;
    }
    if (PyObject_GetBuffer(bufobj, &in, PyBUF_SIMPLE) < 0)
        return NULL;
    if (end < 0 || end > in.len) {
        PyBuffer_Release(&in);
        PyErr_SetString(PyExc_ValueError, "range outside the buffer");
        return NULL;
    }
    if (PyObject_GetBuffer(outobj, &out, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&in);
        return NULL;
    }
    if (out.len / 4 < end + 4) {
        PyBuffer_Release(&out);
        PyBuffer_Release(&in);
        PyErr_SetString(PyExc_ValueError, "output buffer smaller than 4 bytes per input byte");
        return NULL;
    }
    Split s = {in.buf, end, out.buf, 0, max_line, skip, state, 0, 0, 0};
    Py_ssize_t pos;
    Py_BEGIN_ALLOW_THREADS
    pos = split(&s);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    PyBuffer_Release(&in);
    return Py_BuildValue("nnLinnn", s.n, pos, s.skip, s.state, s.lines, s.truncated,
                         s.malformed);
}
