/* Elasticsearch _bulk bodies, GIL released.
 *
 * bulk_scan reads a _bulk body as logcaster/inputs/payloads/bulk.py's
 * parse_python does (the reference; tests compare the two): lines split at
 * '\n', trailing '\r's cut, blank lines (str.isspace) skipped; each action line
 * one JSON object of one member; an index/create document stored as the line it
 * came as (cut to max_line) when it is one JSON object; delete refused, update
 * refused with its body line skipped; a body with a malformed or unknown action
 * is refused whole, by the Python parser (the scan leaves it to it). It also
 * writes the ES answer's items array, one item per action, so a request costs
 * Python no work per line.
 * JSON is checked by _json.c's validator and re-encoded by its writers.
 *
 * An int comes back instead when the Python parser must decide: 1 when the body
 * is not valid UTF-8 (the caller replaces the bad sequences, as the Python path
 * does, and calls again), 2 outside the plain case: what _json.c's validator
 * leaves to Python, an action or metadata key written with escapes, an action
 * of several members that may repeat a key (Python keeps the last), an _index
 * or _id other than a string, an integer, null or false.
 *
 * Ids for actions without one are the caller's per-process prefix, the scan's
 * start time in ns and a process-wide counter, in hex, as the Python parser
 * makes them; the counter takes odd values here (a scan takes IDS_TAKEN of them
 * at a time) and even ones there, so the two never make the same id (the time
 * has 16 hex digits from 2006 to 2554).
 */
#include "_speedups.h"
#include <stdint.h>
#include <time.h>

#define BAD_UTF8 1
#define FALLBACK 2
#define MALFORMED (-1)
#define KEYS_MAX 8       /* members of a malformed action compared for repeats */
#define PREFIX_MAX 64    /* id prefix bytes */
#define SHOWN_CHARS 80   /* characters of a bad line quoted in its error */
#define IDS_TAKEN 256    /* made ids a scan takes from the counter at a time */

typedef const unsigned char *cp;
typedef lc_out Out;

static unsigned long long id_counter = 1; /* odd: see above */

typedef struct {
    cp s, e; /* the contents of a JSON string (or text that needs no escaping) */
} Txt;

typedef struct {
    cp ks, ke, vs, ve; /* a member's key contents and value */
} Member;

typedef struct {
    cp p, e;
    int first, deep, depth;
} Members;

/* The next member of an object (m->p just past its '{'): 1 and *m, 0 past its
 * '}', -1 if invalid. */
static int
next_member(Members *o, Member *m)
{
    cp p = lc_json_ws(o->p, o->e), e = o->e;
    if (p < e && *p == '}') {
        o->p = p + 1;
        return 0;
    }
    if (!o->first) {
        if (p >= e || *p != ',')
            return -1;
        p = lc_json_ws(p + 1, e);
    }
    o->first = 0;
    if (p >= e || *p != '"')
        return -1;
    m->ks = p + 1;
    p = lc_json_string_end(p + 1, e);
    if (p == NULL)
        return -1;
    m->ke = p - 1;
    p = lc_json_ws(p, e);
    if (p >= e || *p != ':')
        return -1;
    m->vs = p = lc_json_ws(p + 1, e);
    p = lc_json_value(p, e, o->depth, &o->deep);
    if (p == NULL)
        return -1;
    m->ve = o->p = p;
    return 1;
}

static inline int
has_escape(cp s, cp e)
{
    return memchr(s, '\\', (size_t)(e - s)) != NULL;
}

static inline int
is(Txt t, const char *word, size_t n)
{
    return (size_t)(t.e - t.s) == n && memcmp(t.s, word, n) == 0;
}

/* An _index or _id value as str() of what json.loads gives: 1 and *t when truthy,
 * 0 when falsy, FALLBACK for what is left to Python. */
static int
meta_value(cp s, cp e, Txt *t)
{
    if (*s == '"') {
        t->s = s + 1;
        t->e = e - 1;
        return t->e > t->s;
    }
    if (*s == 'n' || *s == 'f')
        return 0;
    int zero = 1;
    for (cp q = s + (*s == '-'); q < e; q++) {
        if (*q < '0' || *q > '9')
            return FALLBACK;
        zero &= *q == '0';
    }
    t->s = s;
    t->e = e;
    return !zero;
}

typedef struct {
    Txt op, index, id;
    int has_index, has_id;
} Action;

/* The action line [s, e): 0 and *a, MALFORMED, or FALLBACK. */
static int
read_action(cp s, cp e, Action *a)
{
    /* what shippers send most, taken as it is */
    static const char CREATE[] = "{\"create\":{}}", INDEX[] = "{\"index\":{}}";
    size_t n0 = (size_t)(e - s);
    if ((n0 == sizeof CREATE - 1 && memcmp(s, CREATE, n0) == 0) ||
        (n0 == sizeof INDEX - 1 && memcmp(s, INDEX, n0) == 0)) {
        a->op.s = s + 2;
        a->op.e = e - 5;
        a->has_index = a->has_id = 0;
        return 0;
    }
    cp q = lc_json_ws(s, e);
    if (q >= e || *q != '{')
        return MALFORMED;
    Members o = {q + 1, e, 1, 0, 1};
    Member m, keys[KEYS_MAX];
    int n = 0, r;
    while ((r = next_member(&o, &m)) == 1) {
        if (n < KEYS_MAX)
            keys[n] = m;
        n++;
    }
    if (o.deep)
        return FALLBACK;
    if (r < 0 || lc_json_ws(o.p, e) != e || n == 0)
        return MALFORMED;
    if (n > KEYS_MAX)
        return FALLBACK;
    for (int i = 0; i < n; i++) {
        if (has_escape(keys[i].ks, keys[i].ke))
            return FALLBACK;
        for (int j = 0; j < i; j++)
            if (keys[i].ke - keys[i].ks == keys[j].ke - keys[j].ks &&
                memcmp(keys[i].ks, keys[j].ks, (size_t)(keys[i].ke - keys[i].ks)) == 0)
                return FALLBACK;
    }
    if (n > 1)
        return MALFORMED;
    a->op.s = keys[0].ks;
    a->op.e = keys[0].ke;
    a->has_index = a->has_id = 0;
    if (*keys[0].vs != '{')
        return 0; /* not an object: no metadata */
    Members meta = {keys[0].vs + 1, keys[0].ve, 1, 0, 2};
    while (next_member(&meta, &m) == 1) {
        Txt k = {m.ks, m.ke};
        if (has_escape(k.s, k.e))
            return FALLBACK;
        int *has = is(k, "_index", 6) ? &a->has_index : is(k, "_id", 3) ? &a->has_id : NULL;
        if (has != NULL) {
            *has = meta_value(m.vs, m.ve, has == &a->has_id ? &a->id : &a->index);
            if (*has == FALLBACK)
                return FALLBACK;
        }
    }
    return 0;
}

/* --------------------------------------------------------------- the scan */

typedef struct {
    Out *block, *items;
    size_t max_line;
    Txt index; /* the default _index, as JSON string contents */
    int index_plain; /* the default _index needs no re-encoding */
    char made[PREFIX_MAX + 16]; /* the made ids' prefix and time, in hex */
    size_t nmade;
    unsigned long long next_id, last_id; /* the block of ids taken; next > last: none */
    Py_ssize_t lines, truncated, malformed, nitems, err_start, err_end;
    int status;
} Bulk;

/* The next line at *p that is not blank: 1 and [*s, *stop) (trailing '\r's cut). */
static inline int
next_line(cp *p, cp e, cp *s, cp *stop)
{
    while (*p < e) {
        cp ls = *p, nl = memchr(ls, '\n', (size_t)(e - ls)), le = nl ? nl : e;
        *p = nl ? nl + 1 : e;
        if (lc_json_blank(ls, (size_t)(le - ls)))
            continue;
        while (le > ls && le[-1] == '\r')
            le--;
        *s = ls;
        *stop = le;
        return 1;
    }
    return 0;
}

#define PUT(o, lit) lc_out_put((o), (lit), sizeof(lit) - 1)

/* Hex of v, no leading zeros, at d; the new end. */
static char *
put_hex(char *d, unsigned long long v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *d++ = tmp[--n];
    return d;
}

/* The line's first SHOWN_CHARS characters (str[:80]), as JSON string contents. */
static int
put_shown(Out *o, cp s, cp e)
{
    cp q = s;
    for (int chars = 0; q < e; q++)
        if ((*q & 0xC0) != 0x80 && chars++ == SHOWN_CHARS)
            break;
    return lc_json_put_text(o, s, (size_t)(q - s));
}

/* ,{"<op>":{"_index":"..","_id":"..",  `plain`: index and id need no re-encoding
 * (no backslash), so are copied in one reserve */
static int
open_item(Bulk *B, Txt op, const Txt *index, const Txt *id, int plain)
{
    Out *o = B->items;
    if (index != NULL && plain) {
        static const char IDX[] = "\":{\"_index\":\"", ID[] = "\",\"_id\":\"";
        size_t no = (size_t)(op.e - op.s), ni = (size_t)(index->e - index->s),
               nd = (size_t)(id->e - id->s), need = no + ni + nd + 64;
        if (o->cap - o->len < need && lc_out_reserve(o, need) < 0)
            return -1;
        char *d = (char *)o->buf + o->len;
        if (B->nitems++)
            *d++ = ',';
        *d++ = '{';
        *d++ = '"';
        d = lc_put(lc_put(d, op.s, no), IDX, sizeof IDX - 1);
        d = lc_put(lc_put(d, index->s, ni), ID, sizeof ID - 1);
        d = lc_put(d, id->s, nd);
        *d++ = '"';
        *d++ = ',';
        o->len = (size_t)(d - (char *)o->buf);
        return 0;
    }
    if ((B->nitems++ && PUT(o, ",") < 0) || PUT(o, "{\"") < 0 ||
        lc_out_put(o, op.s, (size_t)(op.e - op.s)) < 0 || PUT(o, "\":{") < 0)
        return -1;
    return PUT(o, "\"_index\":\"") < 0 || lc_json_put_string(o, index->s, index->e) < 0 ||
                   PUT(o, "\",\"_id\":\"") < 0 || lc_json_put_string(o, id->s, id->e) < 0 ||
                   PUT(o, "\",") < 0
               ? -1
               : 0;
}

/* "status":400,"error":{"type":"<kind>","reason":"  (the reason follows) */
static int
open_error(Bulk *B, const char *kind, int skipped)
{
    Out *o = B->items;
    if (PUT(o, "\"status\":400,\"error\":{\"type\":\"") < 0 ||
        lc_out_put(o, kind, strlen(kind)) < 0 || PUT(o, "\",\"reason\":\"") < 0)
        return -1;
    if (skipped && !B->malformed++)
        B->err_start = (Py_ssize_t)o->len;
    return 0;
}

/* the reason's end; *err_end set for the first skipped record's */
static int
close_error(Bulk *B)
{
    if (B->malformed == 1 && B->err_end < 0)
        B->err_end = (Py_ssize_t)B->items->len;
    return PUT(B->items, "\"}}}");
}

static const char REFUSED[] = " is not supported: LogCaster stores logs append-only";

static int
bulk_action(Bulk *B, cp *p, cp e, cp s, cp stop, Py_ssize_t *i)
{
    Action a;
    int r = read_action(s, stop, &a);
    /* a malformed or unknown action refuses the body: the Python parser says why */
    if (r == FALLBACK || r == MALFORMED)
        return FALLBACK;
    int store = is(a.op, "index", 5) || is(a.op, "create", 6);
    int update = is(a.op, "update", 6);
    if (!store && !update && !is(a.op, "delete", 6))
        return FALLBACK;
    char made[sizeof B->made + 16];
    int plain = a.has_index ? !has_escape(a.index.s, a.index.e) : B->index_plain;
    if (!a.has_index)
        a.index = B->index;
    if (a.has_id)
        plain &= !has_escape(a.id.s, a.id.e);
    else {
        if (B->next_id > B->last_id) { /* a block of ids, one atomic add */
            B->next_id = __atomic_fetch_add(&id_counter, 2 * IDS_TAKEN, __ATOMIC_RELAXED);
            B->last_id = B->next_id + 2 * (IDS_TAKEN - 1);
        }
        memcpy(made, B->made, B->nmade);
        a.id.s = (cp)made;
        a.id.e = (cp)put_hex(made + B->nmade, B->next_id);
        B->next_id += 2;
    }
    Out *o = B->items;
    if (open_item(B, a.op, &a.index, &a.id, plain) < 0)
        return -1;
    if (store) {
        cp ds = stop, de = stop; /* no line: "" */
        if (next_line(p, e, &ds, &de))
            ++*i;
        int deep = 0, good = lc_json_object_line(ds, de, &deep);
        if (deep)
            return FALLBACK;
        if (good) {
            static const char CREATED[] = "\"_version\":1,\"result\":\"created\",\"status\":201}}";
            Out *b = B->block;
            size_t n = (size_t)(de - ds), start = b->len;
            B->lines++;
            if (n > B->max_line) {
                if (lc_out_put(b, ds, n) < 0 ||
                    lc_json_end_line(b, start, B->max_line, &B->truncated) < 0)
                    return -1;
            }
            else {
                if (b->cap - b->len < n + 1 && lc_out_reserve(b, n + 1) < 0)
                    return -1;
                memcpy(b->buf + b->len, ds, n);
                b->buf[b->len + n] = '\n';
                b->len += n + 1;
            }
            if (o->cap - o->len < sizeof CREATED && lc_out_reserve(o, sizeof CREATED) < 0)
                return -1;
            memcpy(o->buf + o->len, CREATED, sizeof CREATED - 1);
            o->len += sizeof CREATED - 1;
            return 0;
        }
        return open_error(B, "document_parsing_exception", 1) < 0 || PUT(o, "Document [") < 0 ||
                       lc_json_put_string(o, a.id.s, a.id.e) < 0 ||
                       PUT(o, "] is not a JSON object: ") < 0 || put_shown(o, ds, de) < 0 ||
                       close_error(B) < 0
                   ? -1
                   : 0;
    }
    cp ds, de;
    if (update && next_line(p, e, &ds, &de)) /* its partial document */
        ++*i;
    return open_error(B, "illegal_argument_exception", 0) < 0 ||
                   lc_out_put(o, a.op.s, 6) < 0 || PUT(o, REFUSED) < 0 || close_error(B) < 0
               ? -1
               : 0;
}

static void
bulk_run(Bulk *B, cp body, size_t n)
{
    if (!lc_utf8_check(body, n)) {
        B->status = BAD_UTF8;
        return;
    }
    /* about 100 bytes of answer per action of 2 lines */
    if (lc_out_reserve(B->block, n) < 0 || lc_out_reserve(B->items, n / 2 + 64) < 0 ||
        PUT(B->items, "[") < 0) {
        B->status = -1;
        return;
    }
    cp p = body, e = body + n, s, stop;
    Py_ssize_t i = 0;
    while (next_line(&p, e, &s, &stop)) {
        ++i;
        int r = bulk_action(B, &p, e, s, stop, &i);
        if (r) {
            B->status = r;
            return;
        }
    }
    if (PUT(B->items, "]") < 0)
        B->status = -1;
}

/* bulk_scan(body, max_line, index, prefix) -> (block, lines, truncated, malformed,
 * items, nitems, err_start, err_end) or an int status; `index` is the default _index
 * as JSON string contents, `prefix` that of generated ids. */
PyObject *
lc_bulk_scan(PyObject *self, PyObject *args)
{
    PyObject *obj;
    Py_ssize_t max_line;
    Py_buffer view, index, prefix;
    if (!PyArg_ParseTuple(args, "Ony*y*", &obj, &max_line, &index, &prefix))
        return NULL;
    PyObject *res = NULL;
    if (max_line < 0 || prefix.len > PREFIX_MAX) {
        PyErr_SetString(PyExc_ValueError, "max_line < 0 or prefix too long");
        goto out_args;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) < 0)
        goto out_args;
    Out block, items;
    lc_out_take(&block);
    lc_out_take(&items);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    Bulk B;
    memset(&B, 0, sizeof B);
    B.block = &block;
    B.items = &items;
    B.max_line = (size_t)max_line;
    B.index.s = index.buf;
    B.index.e = (cp)index.buf + index.len;
    B.index_plain = !has_escape(B.index.s, B.index.e);
    memcpy(B.made, prefix.buf, (size_t)prefix.len);
    B.nmade = (size_t)(put_hex(B.made + prefix.len, (unsigned long long)ts.tv_sec * 1000000000ULL +
                                                        (unsigned long long)ts.tv_nsec) -
                       B.made);
    B.next_id = 1;
    B.err_start = B.err_end = -1;
    Py_BEGIN_ALLOW_THREADS
    bulk_run(&B, (cp)view.buf, (size_t)view.len);
    Py_END_ALLOW_THREADS
    if (B.status == -1)
        PyErr_NoMemory();
    else if (B.status)
        res = PyLong_FromLong(B.status);
    else {
        /* both views of kept buffers: no copy, no fresh pages (see _outblock.c) */
        PyObject *answer = lc_out_view(&items);
        PyObject *stored = answer ? lc_out_view(&block) : NULL;
        if (stored != NULL)
            res = Py_BuildValue("(NnnnNnnn)", stored, B.lines, B.truncated, B.malformed, answer,
                                B.nitems, B.err_start, B.err_end);
        else
            Py_XDECREF(answer);
    }
    lc_out_give(&items);
    lc_out_give(&block);
    PyBuffer_Release(&view);
out_args:
    PyBuffer_Release(&index);
    PyBuffer_Release(&prefix);
    return res;
}
