/* OTLP/HTTP logs (an ExportLogsServiceRequest in protobuf) read in C with the GIL
 * released: each log record written straight from the wire format as the compact
 * JSON line logcaster/inputs/payloads/otlp.py stores (the reference, tests compare
 * the two), no message objects:
 *
 *   {"_msg":<body as text, "" if none>,"severity":<text, or severity number's range>,
 *    <resource attributes>...,<record attributes>...,"trace_id":<hex>,"span_id":<hex>}
 *
 * as a dict fills: a name set again keeps its place and takes the new value (a
 * record attribute wins over a resource attribute, the ids over attributes), "_msg"
 * is the body and "severity" the record's own (when it has one) whatever an
 * attribute says. Key lists inside attributes are flattened
 * with dots; other values are written as json.dumps(ensure_ascii=False) writes the
 * Python values (bytes as base64, a key list value as an object, a double as repr:
 * _floatrepr.c).
 *
 * Everything else of the request is read too, as the protobuf library would: wire
 * types of known fields, UTF-8 of every string, nesting. Anything outside the plain
 * case comes back as FALLBACK and the protobuf library decides (it may refuse the
 * body): invalid UTF-8, a known field with another wire type, a message field
 * given twice or an AnyValue with two values (protobuf merges them, or keeps the
 * last), groups, a truncated or over-long varint (a tag or length over five bytes),
 * values nested deeper than MAX_NEST, a key list value with a repeated name (a
 * dict keeps its first place, its last value) or more than MAX_KEYS names.
 */
#include "_speedups.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FALLBACK 2
#define MAX_NEST 24  /* arrays and key lists in a value: the decoder allows 100 messages deep */
#define MAX_KEYS 256 /* names of one key list value, checked for repeats pairwise */

typedef const unsigned char *cp;
typedef lc_span Span;
typedef lc_out Out;

/* ------------------------------------------------------------------ state */

/* A name and its JSON value (both encoded): offsets into the buffer they are being
 * written to, then pointers once it is done. */
typedef struct {
    size_t ko, kn, vo, vn;
    cp k, v;
    uint32_t h;
} Ent;

typedef struct {
    Ent *e;
    size_t n, cap;
} Ents;

typedef struct {
    Out out;       /* the lines */
    Out res, rsuf; /* a resource's flattened attributes; its unique ones as ,"k":v... */
    int rnames[3]; /* whether those name "severity", "trace_id", "span_id" */
    Out rec;       /* a record's flattened attributes, severity and ids */
    Out key;       /* the flattened name being built */
    Out tmp;       /* the body as JSON text, when not a string */
    Ents raw;      /* the flattened attributes, repeats included */
    Ents rent;     /* the resource's, unique */
    Ents map;      /* the record's fields */
    Span *keys;    /* the names of the key list values being written */
    size_t nkeys, capkeys;
    uint32_t *slot, *stamp, gen; /* the map's hash table */
    size_t mask;
    size_t max_line;
    Py_ssize_t lines, truncated;
} Otlp;

static inline int
put(Out *o, const void *s, size_t n)
{
    return n ? lc_out_put(o, s, n) : 0; /* s may be an empty buffer's NULL */
}

static inline int
text_ok(Span s)
{
    return lc_json_utf8_valid(s.s, (size_t)(s.e - s.s)) ? 0 : -1;
}

static Ent *
push(Ents *E)
{
    if (E->n == E->cap) {
        size_t cap = E->cap ? E->cap * 2 : 64;
        Ent *e = realloc(E->e, cap * sizeof(Ent));
        if (e == NULL)
            return NULL;
        E->e = e;
        E->cap = cap;
    }
    return &E->e[E->n++];
}

static inline uint32_t
hash(cp s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* Entries [from, to) written to b: their pointers and hashes. */
static void
resolve(Ents *E, size_t from, size_t to, const Out *b)
{
    for (size_t i = from; i < to; i++) {
        Ent *en = &E->e[i];
        en->k = b->buf + en->ko;
        en->v = b->buf + en->vo;
        en->h = hash(en->k, en->kn);
    }
}

/* ---------------------------------------------------------- the field map */

/* An empty map for up to n names. */
static int
map_begin(Otlp *O, size_t n)
{
    if (O->map.cap < n) {
        Ent *e = realloc(O->map.e, n * sizeof(Ent));
        if (e == NULL)
            return -1;
        O->map.e = e;
        O->map.cap = n;
    }
    O->map.n = 0;
    size_t size = 16;
    while (size < 2 * n)
        size *= 2;
    if (size - 1 > O->mask || O->gen == UINT32_MAX) {
        if (size - 1 > O->mask) {
            free(O->slot);
            free(O->stamp);
            O->slot = malloc(size * sizeof(uint32_t));
            O->stamp = malloc(size * sizeof(uint32_t));
            if (O->slot == NULL || O->stamp == NULL) {
                O->mask = 0;
                return -1;
            }
            O->mask = size - 1;
        }
        memset(O->stamp, 0, (O->mask + 1) * sizeof(uint32_t));
        O->gen = 0;
    }
    O->gen++;
    return 0;
}

/* fields[name] = value, as a dict: a new name at the end, a known one keeps its
 * place; "_msg" is left out (the body is written in its place). */
static void
map_set(Otlp *O, const Ent *en)
{
    if (en->kn == 4 && memcmp(en->k, "_msg", 4) == 0)
        return;
    size_t i = en->h & O->mask;
    while (O->stamp[i] == O->gen) {
        Ent *old = &O->map.e[O->slot[i]];
        if (old->h == en->h && old->kn == en->kn && memcmp(old->k, en->k, en->kn) == 0) {
            old->v = en->v;
            old->vn = en->vn;
            return;
        }
        i = (i + 1) & O->mask;
    }
    O->stamp[i] = O->gen;
    O->slot[i] = (uint32_t)O->map.n;
    O->map.e[O->map.n++] = *en;
}

/* ----------------------------------------------------------------- values */

/* AnyValue: kind is the number of its oneof field set (0: none). */
enum { V_NONE, V_STRING, V_BOOL, V_INT, V_DOUBLE, V_ARRAY, V_KVLIST, V_BYTES, V_STRINDEX };

typedef struct {
    int kind;
    uint64_t num; /* bool, int, double's bits, string index */
    Span s;       /* string, bytes; an array's or key list's message */
} Any;

static int
read_any(Span m, Any *a)
{
    static const unsigned char wire[9] = {0, 2, 0, 0, 1, 2, 2, 2, 0};
    a->kind = V_NONE;
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num > 8)
            continue;
        if (wt != wire[num] || a->kind != V_NONE)
            return -1;
        a->kind = (int)num;
        a->num = v;
        a->s = s;
    }
    return 0;
}

/* KeyValue: its key (checked UTF-8) and value. */
static int
read_kv(Span m, Span *key, Any *a)
{
    Span value = {m.s, m.s};
    int seen = 0;
    key->s = key->e = m.s;
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num == 1 || num == 2) {
            /* a key given twice: the last one, but each must be UTF-8 */
            if (wt != 2 || (num == 2 && seen++) || (num == 1 && text_ok(s) < 0))
                return -1;
            *(num == 1 ? key : &value) = s;
        }
        else if (num == 3 && wt != 0)
            return -1;
    }
    return read_any(value, a);
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
put_base64(Out *b, Span s)
{
    size_t n = (size_t)(s.e - s.s);
    if (lc_out_reserve(b, (n + 2) / 3 * 4) < 0)
        return -1;
    unsigned char *d = b->buf + b->len;
    cp p = s.s;
    for (; n >= 3; n -= 3, p += 3) {
        uint32_t x = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        *d++ = (unsigned char)B64[x >> 18];
        *d++ = (unsigned char)B64[(x >> 12) & 63];
        *d++ = (unsigned char)B64[(x >> 6) & 63];
        *d++ = (unsigned char)B64[x & 63];
    }
    if (n) {
        uint32_t x = (uint32_t)p[0] << 16 | (n == 2 ? (uint32_t)p[1] << 8 : 0);
        *d++ = (unsigned char)B64[x >> 18];
        *d++ = (unsigned char)B64[(x >> 12) & 63];
        *d++ = n == 2 ? (unsigned char)B64[(x >> 6) & 63] : '=';
        *d++ = '=';
    }
    b->len = (size_t)(d - b->buf);
    return 0;
}

static int
put_quoted(Out *b, Span s)
{
    return text_ok(s) < 0 || put(b, "\"", 1) < 0 ||
                   lc_json_put_text(b, s.s, (size_t)(s.e - s.s)) < 0 || put(b, "\"", 1) < 0
               ? -1
               : 0;
}

static int
put_int(Out *b, int64_t x)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)x);
    return put(b, tmp, (size_t)n);
}

/* The value as json.dumps writes what otlp.value_of makes of it. */
static int
put_value(Otlp *O, Out *b, const Any *a, int depth)
{
    switch (a->kind) {
    case V_NONE:
        return put(b, "null", 4);
    case V_STRING:
        return put_quoted(b, a->s);
    case V_BOOL:
        return a->num ? put(b, "true", 4) : put(b, "false", 5);
    case V_INT:
        return put_int(b, (int64_t)a->num);
    case V_STRINDEX:
        return put_int(b, (int32_t)(uint32_t)a->num);
    case V_DOUBLE: {
        double x;
        memcpy(&x, &a->num, 8);
        if (lc_out_reserve(b, LC_FLOAT_ROOM) < 0)
            return -1;
        char *d = (char *)b->buf + b->len;
        b->len += (size_t)(lc_float_repr(d, x) - d);
        return 0;
    }
    case V_BYTES:
        return put(b, "\"", 1) < 0 || put_base64(b, a->s) < 0 ? -1 : put(b, "\"", 1);
    default:
        break;
    }
    /* an array or a key list: its repeated field 1, other fields skipped */
    int list = a->kind == V_KVLIST, first = 1;
    size_t base = O->nkeys;
    if (depth >= MAX_NEST || put(b, list ? "{" : "[", 1) < 0)
        return -1;
    cp p = a->s.s;
    while (p < a->s.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s, key;
        Any item;
        if (lc_pb_field(&p, a->s.e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num != 1)
            continue;
        if (wt != 2 || (!first && put(b, ",", 1) < 0))
            return -1;
        first = 0;
        if (!list) {
            if (read_any(s, &item) < 0 || put_value(O, b, &item, depth + 1) < 0)
                return -1;
            continue;
        }
        if (read_kv(s, &key, &item) < 0)
            return -1;
        size_t kn = (size_t)(key.e - key.s);
        for (size_t i = base; i < O->nkeys; i++)
            if ((size_t)(O->keys[i].e - O->keys[i].s) == kn && memcmp(O->keys[i].s, key.s, kn) == 0)
                return -1; /* a repeated name: first place, last value */
        if (O->nkeys - base == MAX_KEYS)
            return -1;
        if (O->nkeys == O->capkeys) {
            size_t cap = O->capkeys ? O->capkeys * 2 : 64;
            Span *k = realloc(O->keys, cap * sizeof(Span));
            if (k == NULL)
                return -1;
            O->keys = k;
            O->capkeys = cap;
        }
        O->keys[O->nkeys++] = key;
        if (put_quoted(b, key) < 0 || put(b, ":", 1) < 0 || put_value(O, b, &item, depth + 1) < 0)
            return -1;
    }
    O->nkeys = base;
    return put(b, list ? "}" : "]", 1);
}

/* One KeyValue of an attribute list, its name after the prefix in O->key: an entry
 * (name, value) written to b, or a key list value's entries, names joined by dots. */
static int
flatten(Otlp *O, Span m, Out *b, int depth)
{
    Span key;
    Any a;
    if (read_kv(m, &key, &a) < 0)
        return -1;
    size_t mark = O->key.len;
    if (lc_json_put_text(&O->key, key.s, (size_t)(key.e - key.s)) < 0)
        return -1;
    if (a.kind == V_KVLIST) {
        if (depth >= MAX_NEST || put(&O->key, ".", 1) < 0)
            return -1;
        cp p = a.s.s;
        while (p < a.s.e) {
            uint32_t num;
            unsigned wt;
            uint64_t v;
            Span s;
            if (lc_pb_field(&p, a.s.e, &num, &wt, &v, &s) < 0)
                return -1;
            if (num == 1 && (wt != 2 || flatten(O, s, b, depth + 1) < 0))
                return -1;
        }
    }
    else {
        Ent *en = push(&O->raw);
        if (en == NULL)
            return -1;
        en->ko = b->len;
        en->kn = O->key.len;
        if (put(b, O->key.buf, O->key.len) < 0)
            return -1;
        en->vo = b->len;
        if (put_value(O, b, &a, depth) < 0)
            return -1;
        en->vn = b->len - en->vo;
    }
    O->key.len = mark;
    return 0;
}

/* --------------------------------------------- parts checked, not written */

static int check_kv(Span m, int depth);

/* An AnyValue's fields: wire types, UTF-8, nesting. */
static int
check_any(Span m, int depth)
{
    static const unsigned char wire[9] = {0, 2, 0, 0, 1, 2, 2, 2, 0};
    cp p = m.s;
    while (p < m.e) {
        uint32_t num, f;
        unsigned wt, w;
        uint64_t v;
        Span s, t;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num > 8)
            continue;
        if (wt != wire[num] || (num == 1 && text_ok(s) < 0))
            return -1;
        if (num != 5 && num != 6)
            continue;
        if (depth >= MAX_NEST)
            return -1;
        cp q = s.s;
        while (q < s.e) {
            if (lc_pb_field(&q, s.e, &f, &w, &v, &t) < 0)
                return -1;
            if (f == 1 && (w != 2 || (num == 5 ? check_any(t, depth + 1) : check_kv(t, depth + 1)) < 0))
                return -1;
        }
    }
    return 0;
}

static int
check_kv(Span m, int depth)
{
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        if ((num == 1 || num == 2) && wt != 2)
            return -1;
        if ((num == 1 && text_ok(s) < 0) || (num == 2 && check_any(s, depth) < 0) ||
            (num == 3 && wt != 0))
            return -1;
    }
    return 0;
}

#define VARINT 100 /* a wire type + VARINT in check_message's tables */

/* A message of the given wire types by field number (0 or past the table: skipped;
 * 9: a UTF-8 string, 10: KeyValue, 11: EntityRef), e.g. InstrumentationScope. */
static int
check_message(Span m, const unsigned char *types, uint32_t n)
{
    static const unsigned char ENTITY_REF[] = {0, 9, 9, 9, 9};
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        unsigned want = num < n ? types[num] : 0;
        if (want == 0)
            continue;
        if (wt != (want >= VARINT ? want - VARINT : 2))
            return -1;
        if ((want == 9 && text_ok(s) < 0) || (want == 10 && check_kv(s, 0) < 0) ||
            (want == 11 && check_message(s, ENTITY_REF, 5) < 0))
            return -1;
    }
    return 0;
}

static const unsigned char SCOPE[] = {0, 9, 9, 10, VARINT}; /* InstrumentationScope */

/* --------------------------------------------------------------- records */

/* An entry of O->raw named by a constant, its value to be written to O->rec next;
 * its index, -1 when out of memory. */
static long
named(Otlp *O, const char *name)
{
    Ent *en = push(&O->raw);
    if (en == NULL)
        return -1;
    en->ko = 0;
    en->kn = strlen(name);
    en->k = (cp)name;
    en->h = hash(en->k, en->kn);
    en->vo = O->rec.len;
    return (long)(O->raw.n - 1);
}

/* ,"k":v */
static inline int
put_entry(Out *o, const Ent *en)
{
    if (lc_out_reserve(o, en->kn + en->vn + 4) < 0)
        return -1;
    unsigned char *d = o->buf + o->len;
    *d++ = ',';
    *d++ = '"';
    memcpy(d, en->k, en->kn);
    d += en->kn;
    *d++ = '"';
    *d++ = ':';
    memcpy(d, en->v, en->vn);
    o->len = (size_t)(d + en->vn - o->buf);
    return 0;
}

static int
put_hex(Out *b, Span s)
{
    static const char HEX[] = "0123456789abcdef";
    size_t n = (size_t)(s.e - s.s);
    if (lc_out_reserve(b, 2 * n + 2) < 0)
        return -1;
    unsigned char *d = b->buf + b->len;
    *d++ = '"';
    for (cp p = s.s; p < s.e; p++) {
        *d++ = (unsigned char)HEX[*p >> 4];
        *d++ = (unsigned char)HEX[*p & 15];
    }
    *d++ = '"';
    b->len = (size_t)(d - b->buf);
    return 0;
}

/* The severity's value: its text, or the name of its number's range. */
static int
put_severity(Out *b, Span text, int32_t number)
{
    static const struct {
        const char *s;
        size_t n;
    } NAMES[] = {{"\"TRACE\"", 7}, {"\"DEBUG\"", 7}, {"\"INFO\"", 6},
                 {"\"WARN\"", 6},  {"\"ERROR\"", 7}, {"\"FATAL\"", 7}};
    if (text.e > text.s)
        return put_quoted(b, text);
    return put(b, NAMES[(number - 1) / 4].s, NAMES[(number - 1) / 4].n);
}

/* The record's fields after "_msg" through the map, for a record with attributes
 * or one whose severity or ids a resource attribute names too: the resource's
 * entries (O->rent), the record's attributes (O->raw), and the severity (sev NULL:
 * none) and ids added to O->raw. */
static int
by_name(Otlp *O, const Span *sev, int32_t sev_number, const Span ids[2])
{
    size_t nattrs = O->raw.n;
    long at[3] = {-1, -1, -1};
    static const char *const NAMES[3] = {"severity", "trace_id", "span_id"};
    for (int i = 0; i < 3; i++) {
        if (i == 0 ? sev == NULL : ids[i - 1].e == ids[i - 1].s)
            continue;
        if ((at[i] = named(O, NAMES[i])) < 0 ||
            (i == 0 ? put_severity(&O->rec, *sev, sev_number) : put_hex(&O->rec, ids[i - 1])) < 0)
            return -1;
        O->raw.e[at[i]].vn = O->rec.len - O->raw.e[at[i]].vo;
    }
    /* pointers into rec, now that it is written */
    resolve(&O->raw, 0, nattrs, &O->rec);
    for (size_t i = nattrs; i < O->raw.n; i++)
        O->raw.e[i].v = O->rec.buf + O->raw.e[i].vo;
    if (map_begin(O, O->raw.n + O->rent.n) < 0)
        return -1;
    if (at[0] >= 0)
        map_set(O, &O->raw.e[at[0]]);
    for (size_t i = 0; i < O->rent.n; i++)
        map_set(O, &O->rent.e[i]);
    for (size_t i = 0; i < nattrs; i++)
        map_set(O, &O->raw.e[i]);
    for (int i = 0; i < 3; i++) /* the record's own severity (in its first place), ids */
        if (at[i] >= 0)
            map_set(O, &O->raw.e[at[i]]);
    for (size_t i = 0; i < O->map.n; i++)
        if (put_entry(&O->out, &O->map.e[i]) < 0)
            return -1;
    return 0;
}

static int
log_record(Otlp *O, Span m)
{
    Span body = {NULL, NULL}, sev_text = {m.s, m.s}, ids[2] = {{m.s, m.s}, {m.s, m.s}};
    int32_t sev_number = 0;
    O->rec.len = 0;
    O->raw.n = 0;
    O->key.len = 0;
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        switch (num) {
        case 1:
        case 11: /* time_unix_nano, observed_time_unix_nano */
            if (wt != 1)
                return -1;
            break;
        case 2: /* severity_number */
        case 7: /* dropped_attributes_count */
            if (wt != 0)
                return -1;
            if (num == 2)
                sev_number = (int32_t)(uint32_t)v;
            break;
        case 8: /* flags */
            if (wt != 5)
                return -1;
            break;
        case 3:
        case 12: /* severity_text, event_name */
            if (wt != 2 || text_ok(s) < 0)
                return -1;
            if (num == 3)
                sev_text = s;
            break;
        case 5:
            if (wt != 2 || body.s != NULL)
                return -1; /* a second body merges into the first */
            body = s;
            break;
        case 6:
            if (wt != 2 || flatten(O, s, &O->rec, 0) < 0)
                return -1;
            break;
        case 9:
        case 10:
            if (wt != 2)
                return -1;
            ids[num - 9] = s;
            break;
        default:
            break;
        }
    }
    int has_sev = sev_text.e > sev_text.s || (sev_number >= 1 && sev_number <= 24);
    int has_id[2] = {ids[0].e > ids[0].s, ids[1].e > ids[1].s};
    /* the body: a string as it is, bytes as base64, none (no body, or one without
     * a value) empty, anything else as JSON text */
    Any a = {V_NONE, 0, {NULL, NULL}};
    Span msg;
    if (body.s != NULL && read_any(body, &a) < 0)
        return -1;
    if (a.kind == V_STRING) {
        if (text_ok(a.s) < 0)
            return -1;
        msg = a.s;
    }
    else if (a.kind == V_NONE)
        msg.s = msg.e = m.s;
    else {
        O->tmp.len = 0;
        if ((a.kind == V_BYTES ? put_base64(&O->tmp, a.s) : put_value(O, &O->tmp, &a, 0)) < 0)
            return -1;
        msg.s = O->tmp.buf;
        msg.e = O->tmp.buf + O->tmp.len;
    }
    Out *o = &O->out;
    size_t start = o->len;
    if (put(o, "{\"_msg\":\"", 9) < 0 || lc_json_put_text(o, msg.s, (size_t)(msg.e - msg.s)) < 0 ||
        put(o, "\"", 1) < 0)
        return -1;
    if (O->raw.n == 0 && !(has_sev && O->rnames[0]) && !(has_id[0] && O->rnames[1]) &&
        !(has_id[1] && O->rnames[2])) {
        /* no name set twice: the fields in order, the resource's as one piece */
        if ((has_sev && (put(o, ",\"severity\":", 12) < 0 ||
                         put_severity(o, sev_text, sev_number) < 0)) ||
            put(o, O->rsuf.buf, O->rsuf.len) < 0)
            return -1;
        for (int i = 0; i < 2; i++)
            if (has_id[i] && (put(o, i ? ",\"span_id\":" : ",\"trace_id\":", i ? 11 : 12) < 0 ||
                              put_hex(o, ids[i]) < 0))
                return -1;
    }
    else if (by_name(O, has_sev ? &sev_text : NULL, sev_number, ids) < 0)
        return -1;
    if (put(o, "}", 1) < 0 || lc_json_end_line(o, start, O->max_line, &O->truncated) < 0)
        return -1;
    O->lines++;
    return 0;
}

/* ------------------------------------------------------------- the request */

/* A Resource: its attributes flattened, each name once (O->rent). */
static int
resource(Otlp *O, Span m)
{
    static const unsigned char RESOURCE[] = {0, 0, VARINT, 11};
    O->res.len = 0;
    O->raw.n = 0;
    O->key.len = 0;
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num == 1 && (wt != 2 || flatten(O, s, &O->res, 0) < 0))
            return -1;
    }
    if (check_message(m, RESOURCE, 4) < 0)
        return -1;
    resolve(&O->raw, 0, O->raw.n, &O->res);
    if (map_begin(O, O->raw.n) < 0)
        return -1;
    for (size_t i = 0; i < O->raw.n; i++)
        map_set(O, &O->raw.e[i]);
    static const char *const OVERRIDDEN[3] = {"severity", "trace_id", "span_id"};
    O->rent.n = O->rsuf.len = 0;
    memset(O->rnames, 0, sizeof O->rnames);
    for (size_t i = 0; i < O->map.n; i++) {
        Ent *en = push(&O->rent);
        if (en == NULL || put_entry(&O->rsuf, &O->map.e[i]) < 0)
            return -1;
        *en = O->map.e[i];
        for (int j = 0; j < 3; j++)
            if (en->kn == strlen(OVERRIDDEN[j]) && memcmp(en->k, OVERRIDDEN[j], en->kn) == 0)
                O->rnames[j] = 1;
    }
    return 0;
}

static int
scope_logs(Otlp *O, Span m)
{
    cp p = m.s;
    while (p < m.e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num >= 1 && num <= 3 && wt != 2)
            return -1; /* scope, log_records, schema_url */
        if ((num == 1 && check_message(s, SCOPE, 5) < 0) || (num == 2 && log_record(O, s) < 0) ||
            (num == 3 && text_ok(s) < 0))
            return -1;
    }
    return 0;
}

/* A ResourceLogs: the resource first, wherever it is, then each scope's records. */
static int
resource_logs(Otlp *O, Span m)
{
    Span res = {m.s, m.s};
    int seen = 0;
    for (int pass = 0; pass < 2; pass++) {
        cp p = m.s;
        while (p < m.e) {
            uint32_t num;
            unsigned wt;
            uint64_t v;
            Span s;
            if (lc_pb_field(&p, m.e, &num, &wt, &v, &s) < 0)
                return -1;
            if (num >= 1 && num <= 3 && wt != 2)
                return -1; /* resource, scope_logs, schema_url */
            if (pass == 0 && num == 3 && text_ok(s) < 0)
                return -1;
            if (pass == 0 && num == 1) {
                if (seen++)
                    return -1; /* a second resource merges into the first */
                res = s;
            }
            if (pass == 1 && num == 2 && scope_logs(O, s) < 0)
                return -1;
        }
        if (pass == 0 && resource(O, res) < 0)
            return -1;
    }
    return 0;
}

static int
walk(Otlp *O, cp body, size_t n)
{
    cp p = body, e = body + n;
    while (p < e) {
        uint32_t num;
        unsigned wt;
        uint64_t v;
        Span s;
        if (lc_pb_field(&p, e, &num, &wt, &v, &s) < 0)
            return -1;
        if (num == 1 && (wt != 2 || resource_logs(O, s) < 0))
            return -1;
    }
    return 0;
}

/* The records of the request in wire[0:n] (as lc_otlp_logs_scan answers);
 * with_json: body[0:n] is the OTLP JSON text, rewritten as wire format first
 * (_otlpjson.c). */
static PyObject *
scan(const unsigned char *body, size_t n, Py_ssize_t max_line, Py_ssize_t most, int with_json)
{
    Otlp O;
    memset(&O, 0, sizeof O);
    O.max_line = max_line < 0 ? 0 : (size_t)max_line;
    lc_out_take(&O.out); /* a kept buffer, its pages touched (_outblock.c) */
    O.out.most = most < 0 ? 0 : (size_t)most;
    lc_out wire = {NULL, 0, 0, 0, 0};
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    if (with_json) {
        rc = lc_out_reserve(&wire, n / 2 + 64) < 0 ? -1 : lc_otlp_json_wire(body, n, &wire);
        body = wire.buf;
        n = wire.len;
    }
    if (rc == 0)
        rc = walk(&O, body, n);
    Py_END_ALLOW_THREADS
    free(wire.buf);
    PyObject *res = NULL;
    if (O.out.over)
        res = PyLong_FromLong(LC_TOO_LARGE);
    else if (rc < 0)
        res = PyLong_FromLong(FALLBACK);
    else {
        PyObject *block = lc_out_view(&O.out);
        if (block != NULL)
            res = Py_BuildValue("(Nnn)", block, O.lines, O.truncated);
    }
    lc_out_give(&O.out);
    Out *bufs[] = {&O.res, &O.rsuf, &O.rec, &O.key, &O.tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]->buf);
    free(O.raw.e);
    free(O.rent.e);
    free(O.map.e);
    free(O.keys);
    free(O.slot);
    free(O.stamp);
    return res;
}

static PyObject *
scan_args(PyObject *args, int with_json)
{
    Py_buffer view;
    Py_ssize_t max_line, most = 0;
    if (!PyArg_ParseTuple(args, "y*n|n", &view, &max_line, &most))
        return NULL;
    PyObject *res = scan((cp)view.buf, (size_t)view.len, max_line, most, with_json);
    PyBuffer_Release(&view);
    return res;
}

/* otlp_logs_scan(body, max_line, most=0) -> (block, lines, truncated), FALLBACK or
 * LC_TOO_LARGE (the lines would pass `most` bytes) */
PyObject *
lc_otlp_logs_scan(PyObject *self, PyObject *args)
{
    return scan_args(args, 0);
}

/* otlp_json_scan(body, max_line, most=0): the same for a request in OTLP JSON;
 * FALLBACK also for whatever _otlpjson.c leaves to Python. */
PyObject *
lc_otlp_json_scan(PyObject *self, PyObject *args)
{
    return scan_args(args, 1);
}
