/* The Loki protobuf push (logproto.PushRequest, snappy already undone) read in C
 * with the GIL released: {"_msg":<line>,<labels>...,<metadata>...} lines written
 * straight from the wire format, no message objects.
 *
 * Two calls per body: loki_proto_labels returns each stream's label text (the
 * Prometheus selector, parsed in Python: a handful per body) and number of
 * entries (each malformed when its labels are), loki_proto_scan
 * writes the lines given each stream's encoded label suffix (None: skip the
 * stream). Anything outside the plain case comes back as FALLBACK and the
 * protobuf library decides: invalid UTF-8 in a string field, a field repeated
 * where the last one would win, a known field with another wire type, groups,
 * a truncated or over-long varint or length, a repeated metadata name.
 */
#include "_speedups.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FALLBACK 2
#define MAX_META 64

typedef const unsigned char *cp;

typedef lc_span Span;

/* One field at p (lc_pb_field, its value dropped): -1 for anything this reader refuses. */
static inline int
field(cp *pp, cp e, uint32_t *num, unsigned *wt, Span *span)
{
    uint64_t v;
    return lc_pb_field(pp, e, num, wt, &v, span);
}

/* A message whose every field is known to be a varint (Timestamp), or skipped. */
static int
check_timestamp(Span m)
{
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        Span s;
        if (field(&p, m.e, &num, &wt, &s) < 0 || ((num == 1 || num == 2) && wt != 0))
            return -1;
    }
    return 0;
}

static int
text(Span s)
{
    return lc_json_utf8_valid(s.s, (size_t)(s.e - s.s)) ? 0 : -1;
}

typedef struct {
    Span line;
    Span meta[MAX_META][2];
    int nmeta;
} Entry;

static int
read_pair(Span m, Span pair[2])
{
    int seen[2] = {0, 0};
    pair[0].s = pair[0].e = pair[1].s = pair[1].e = m.s;
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        Span s;
        if (field(&p, m.e, &num, &wt, &s) < 0)
            return -1;
        if (num == 1 || num == 2) {
            if (wt != 2 || seen[num - 1]++ || text(s) < 0)
                return -1;
            pair[num - 1] = s;
        }
    }
    return 0;
}

static int
read_entry(Span m, Entry *en)
{
    int seen_line = 0;
    en->line.s = en->line.e = m.s;
    en->nmeta = 0;
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        Span s;
        if (field(&p, m.e, &num, &wt, &s) < 0)
            return -1;
        if (num >= 1 && num <= 3 && wt != 2)
            return -1;
        if (num == 1 && check_timestamp(s) < 0)
            return -1;
        if (num == 2) {
            if (seen_line++ || text(s) < 0)
                return -1;
            en->line = s;
        }
        if (num == 3) {
            if (en->nmeta == MAX_META || read_pair(s, en->meta[en->nmeta]) < 0)
                return -1;
            en->nmeta++;
        }
    }
    return 0;
}

static int
same_span(Span a, Span b)
{
    return a.e - a.s == b.e - b.s && memcmp(a.s, b.s, (size_t)(a.e - a.s)) == 0;
}

/* ,"name":"value" for each pair; "_msg" left out; a repeated name: -1. */
static int
put_meta(lc_out *o, Entry *en)
{
    for (int i = 0; i < en->nmeta; i++) {
        Span name = en->meta[i][0];
        for (int j = 0; j < i; j++)
            if (same_span(name, en->meta[j][0]))
                return -1;
        if (name.e - name.s == 4 && memcmp(name.s, "_msg", 4) == 0)
            continue;
        if (lc_out_put(o, ",\"", 2) < 0 ||
            lc_json_put_text(o, name.s, (size_t)(name.e - name.s)) < 0 ||
            lc_out_put(o, "\":\"", 3) < 0 ||
            lc_json_put_text(o, en->meta[i][1].s, (size_t)(en->meta[i][1].e - en->meta[i][1].s)) <
                0 ||
            lc_out_put(o, "\"", 1) < 0)
            return -1;
    }
    return 0;
}

typedef struct {
    Span *labels;           /* phase 1: each stream's labels */
    Py_ssize_t *entries;    /* and its number of entries */
    Py_ssize_t nstreams, cap;
    /* phase 2 */
    Span *suffix; /* NULL .s: skip the stream */
    lc_out out;
    size_t max_line;
    Py_ssize_t lines, truncated;
    int status;
} Proto;

/* Walk the request; phase 2 (p->suffix set) writes the lines. 0 or -1. */
static int
walk(Proto *P, cp body, size_t n)
{
    cp p = body, e = body + n;
    Py_ssize_t index = 0;
    Entry en;
    while (p < e) {
        uint32_t num;
        unsigned wt;
        Span st;
        if (field(&p, e, &num, &wt, &st) < 0)
            return -1;
        if (num != 1)
            continue;
        if (wt != 2)
            return -1;
        if (P->suffix != NULL && index >= P->nstreams)
            return -1;
        /* one Stream */
        Span labels = {st.s, st.s};
        Py_ssize_t entries = 0;
        int seen_labels = 0;
        int skip = P->suffix != NULL && P->suffix[index].s == NULL;
        cp q = st.s;
        while (q < st.e) {
            uint32_t f;
            unsigned w;
            Span s;
            if (field(&q, st.e, &f, &w, &s) < 0)
                return -1;
            if ((f == 1 || f == 2) && w != 2)
                return -1;
            if (f == 3 && w != 0)
                return -1;
            if (f == 1) {
                if (seen_labels++ || text(s) < 0)
                    return -1;
                labels = s;
            }
            /* phase 1 wants the labels and the number of entries only; phase 2 reads
             * (and checks) every entry, so a body that fails there still falls back
             * as a whole */
            if (f == 2)
                entries++;
            if (f != 2 || P->suffix == NULL)
                continue;
            if (read_entry(s, &en) < 0)
                return -1;
            if (skip)
                continue;
            void *o = &P->out;
            size_t start = P->out.len;
            Span sfx = P->suffix[index];
            if (en.nmeta == 0) { /* the usual entry: written by one call */
                if (lc_json_put_record(o, en.line.s, (size_t)(en.line.e - en.line.s), sfx.s,
                                       (size_t)(sfx.e - sfx.s), P->max_line, &P->truncated) < 0)
                    return -1;
            }
            else if (lc_out_put(o, "{\"_msg\":\"", 9) < 0 ||
                lc_json_put_text(o, en.line.s, (size_t)(en.line.e - en.line.s)) < 0 ||
                lc_out_put(o, "\"", 1) < 0 ||
                lc_out_put(o, sfx.s, (size_t)(sfx.e - sfx.s)) < 0 || put_meta(o, &en) < 0 ||
                lc_out_put(o, "}", 1) < 0 ||
                lc_json_end_line(o, start, P->max_line, &P->truncated) < 0)
                return -1;
            P->lines++;
        }
        if (P->suffix == NULL) {
            if (P->nstreams == P->cap) {
                Py_ssize_t cap = P->cap ? P->cap * 2 : 16;
                Span *l = realloc(P->labels, (size_t)cap * sizeof(Span));
                if (l == NULL)
                    return -1;
                P->labels = l;
                Py_ssize_t *n = realloc(P->entries, (size_t)cap * sizeof(Py_ssize_t));
                if (n == NULL)
                    return -1;
                P->entries = n;
                P->cap = cap;
            }
            P->entries[P->nstreams] = entries;
            P->labels[P->nstreams++] = labels;
        }
        index++;
    }
    return 0;
}

/* loki_proto_labels(raw) -> [(label text, number of entries) per stream] or FALLBACK */
PyObject *
lc_loki_proto_labels(PyObject *self, PyObject *args)
{
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*", &view))
        return NULL;
    Proto P;
    memset(&P, 0, sizeof P);
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = walk(&P, (cp)view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    PyObject *res;
    if (rc < 0)
        res = PyLong_FromLong(FALLBACK);
    else {
        res = PyList_New(P.nstreams);
        for (Py_ssize_t i = 0; res != NULL && i < P.nstreams; i++) {
            PyObject *t = Py_BuildValue("(y#n)", (const char *)P.labels[i].s,
                                        (Py_ssize_t)(P.labels[i].e - P.labels[i].s),
                                        P.entries[i]);
            if (t == NULL) {
                Py_CLEAR(res);
                break;
            }
            PyList_SET_ITEM(res, i, t);
        }
    }
    free(P.labels);
    free(P.entries);
    PyBuffer_Release(&view);
    return res;
}

/* loki_proto_scan(raw, suffixes, max_line, most=0) -> (block, lines, truncated),
 * FALLBACK or LC_TOO_LARGE (the lines would pass `most` bytes); suffixes: one bytes
 * (or None: skip) per stream, as loki_proto_labels listed them. */
PyObject *
lc_loki_proto_scan(PyObject *self, PyObject *args)
{
    Py_buffer view;
    PyObject *suffixes;
    Py_ssize_t max_line, most = 0;
    if (!PyArg_ParseTuple(args, "y*O!n|n", &view, &PyList_Type, &suffixes, &max_line, &most))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(suffixes);
    Span *sfx = calloc((size_t)n + 1, sizeof(Span));
    if (sfx == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(suffixes, i);
        if (item == Py_None)
            continue;
        if (!PyBytes_Check(item)) {
            free(sfx);
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError, "suffixes: bytes or None");
            return NULL;
        }
        sfx[i].s = (cp)PyBytes_AS_STRING(item);
        sfx[i].e = sfx[i].s + PyBytes_GET_SIZE(item);
    }
    Proto P;
    memset(&P, 0, sizeof P);
    P.suffix = sfx;
    P.nstreams = n;
    P.max_line = max_line < 0 ? 0 : (size_t)max_line;
    lc_out_take(&P.out); /* a kept buffer, its pages touched (_outblock.c) */
    P.out.most = most < 0 ? 0 : (size_t)most;
    int rc;
    /* the list holds the suffix bytes alive while the GIL is released */
    Py_INCREF(suffixes);
    Py_BEGIN_ALLOW_THREADS
    rc = walk(&P, (cp)view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    Py_DECREF(suffixes);
    PyObject *res = NULL;
    if (P.out.over)
        res = PyLong_FromLong(LC_TOO_LARGE);
    else if (rc < 0)
        res = PyLong_FromLong(FALLBACK);
    else {
        PyObject *block = lc_out_view(&P.out);
        if (block != NULL)
            res = Py_BuildValue("(Nnn)", block, P.lines, P.truncated);
    }
    lc_out_give(&P.out);
    free(sfx);
    PyBuffer_Release(&view);
    return res;
}
