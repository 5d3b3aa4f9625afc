/* OTLP/HTTP logs in the OTLP JSON mapping, rewritten in C as the protobuf wire
 * format of the same ExportLogsServiceRequest, which _otlpproto.c then reads like
 * any protobuf request: one reader of records for both encodings, and no Python
 * object per record (json.loads and a walk of its dicts took ~10 us a record).
 *
 * The JSON is read as json.loads reads it and each field written as
 * json_format.ParseDict would set it, for the shapes OTLP exporters write: camelCase
 * names, 64-bit integers as decimal strings or numbers, enums as numbers, trace and
 * span ids in hex. Anything else declines (-1) and the Python readers decide
 * (logcaster/inputs/payloads/otlp_json.py, then the protobuf library): an unknown
 * or repeated name, null, an enum by name, bytesValue, a value of another type, a
 * number out of its field's range, a lone surrogate, invalid UTF-8, NaN or
 * Infinity, nesting past MAX_NEST, text after the document.
 *
 * Scalars equal to their default are left out, as protobuf leaves them out; the
 * members of an AnyValue's oneof and every message given are written even when
 * empty. A message's length is written as a five-byte varint once its end is known.
 */
#include "_speedups.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEST 24 /* arrays and key lists within a value, as otlp_json.py allows */
#define MAX_NAME 32 /* bytes of a member name worth comparing (the known ones are short) */

typedef const unsigned char *cp;

typedef struct {
    cp p, e;
    lc_out *w;
} J;

/* ------------------------------------------------------------ the writer */

static inline int
put_varint(lc_out *w, uint64_t v)
{
    unsigned char b[10];
    size_t n = 0;
    while (v > 0x7F) {
        b[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (unsigned char)v;
    return lc_out_put(w, b, n);
}

static inline int
put_tag(lc_out *w, unsigned num, unsigned wt)
{
    return put_varint(w, (uint64_t)(num << 3 | wt));
}

static int
put_fixed(lc_out *w, uint64_t v, size_t n)
{
    unsigned char b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    return lc_out_put(w, b, n);
}

/* A length-delimited field's tag and room for its length; returns where the
 * length goes, or (size_t)-1 when out of memory. */
static size_t
open_len(lc_out *w, unsigned num)
{
    if (put_tag(w, num, 2) < 0 || lc_out_reserve(w, 5) < 0)
        return (size_t)-1;
    size_t at = w->len;
    w->len += 5;
    return at;
}

/* The length of what was written since open_len, as five varint bytes. */
static void
close_len(lc_out *w, size_t at)
{
    uint64_t n = w->len - at - 5;
    for (int i = 0; i < 5; i++)
        w->buf[at + i] = (unsigned char)((n >> (7 * i)) & 0x7F) | (i < 4 ? 0x80 : 0);
}

/* ------------------------------------------------------------ the reader */

static inline void
ws(J *j)
{
    j->p = lc_json_ws(j->p, j->e);
}

/* The next byte after whitespace is c: taken. */
static inline int
take(J *j, unsigned char c)
{
    ws(j);
    if (j->p < j->e && *j->p == c) {
        j->p++;
        return 1;
    }
    return 0;
}



static int
hex4(cp p, uint32_t *u)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = lc_hexval(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | (uint32_t)h;
    }
    *u = v;
    return 0;
}

/* A JSON string at j->p (after whitespace), its text appended to w as UTF-8 (the
 * body was checked to be valid UTF-8 already); -1 when it is not a string, is
 * invalid, holds a lone surrogate, or out of memory. */
static int
string(J *j, lc_out *w)
{
    if (!take(j, '"'))
        return -1;
    cp p = j->p, e = j->e;
    /* most strings hold no escape: found valid and copied whole (both passes SIMD) */
    cp end = lc_json_string_end(p, e);
    if (end == NULL)
        return -1;
    if (memchr(p, '\\', (size_t)(end - 1 - p)) == NULL) {
        j->p = end;
        return lc_out_put(w, p, (size_t)(end - 1 - p));
    }
    for (;;) {
        cp run = p;
        while (p < e && *p != '"' && *p != '\\' && *p >= 0x20)
            p++;
        if (p > run && lc_out_put(w, run, (size_t)(p - run)) < 0)
            return -1;
        if (p >= e || *p < 0x20)
            return -1;
        if (*p == '"') {
            j->p = p + 1;
            return 0;
        }
        if (p + 1 >= e)
            return -1;
        unsigned c = p[1];
        uint32_t u;
        if (c == 'u') {
            if (e - p < 6 || hex4(p + 2, &u) < 0)
                return -1;
            p += 6;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return -1; /* a lone low surrogate */
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo;
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return -1; /* a lone high surrogate */
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
        } else {
            static const char plain[] = "\"\\/bfnrt";
            static const unsigned char code[] = {'"', '\\', '/', '\b', '\f', '\n', '\r', '\t'};
            const char *k = c ? strchr(plain, (int)c) : NULL;
            if (k == NULL)
                return -1;
            u = code[k - plain];
            p += 2;
        }
        if (lc_put_utf8(w, u) < 0)
            return -1;
    }
}

/* A member name, decoded into name (*n its length), then the ':' after it; -1 for
 * a name longer than MAX_NAME as written (none of the known names is). */
static int
member_name(J *j, char name[MAX_NAME], size_t *n)
{
    ws(j);
    if (j->p >= j->e || *j->p != '"')
        return -1;
    cp end = lc_json_string_end(j->p + 1, j->e);
    if (end == NULL || (size_t)(end - j->p) > MAX_NAME + 2)
        return -1;
    /* decoded, a string is never longer than written: the room suffices */
    lc_out w = {(unsigned char *)name, 0, MAX_NAME, 0, 0};
    if (string(j, &w) < 0)
        return -1;
    *n = w.len;
    return take(j, ':') ? 0 : -1;
}

/* Which of names[] the member name is (its index), -1 if none. */
static int
which(const char *name, size_t n, const char *const *names, int count)
{
    if (n == 0)
        return -1;
    for (int i = 0; i < count; i++)
        if (names[i][0] == name[0] && strlen(names[i]) == n && memcmp(names[i], name, n) == 0)
            return i;
    return -1;
}

/* A JSON integer as json.loads reads one: -?(0|[1-9][0-9]*) not followed by a
 * fraction or exponent; or, as otlp_json.py and ParseDict also take, a string of
 * -?[0-9]+. *neg and *mag its sign and size; -1 otherwise or past 2**64 - 1. */
static int
integer(J *j, int allow_string, int *neg, uint64_t *mag)
{
    ws(j);
    cp p = j->p, e = j->e;
    int quoted = p < e && *p == '"';
    if (quoted) {
        if (!allow_string)
            return -1;
        p++;
    }
    *neg = p < e && *p == '-';
    p += *neg;
    cp digits = p;
    uint64_t v = 0;
    while (p < e && p - digits < 19 && *p >= '0' && *p <= '9')
        v = v * 10 + (unsigned)(*p++ - '0'); /* below 10**19: no overflow */
    while (p < e && *p >= '0' && *p <= '9') {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        p++;
    }
    if (p == digits)
        return -1;
    if (quoted) {
        if (p >= e || *p != '"')
            return -1;
        p++;
    } else {
        if (*digits == '0' && p - digits > 1)
            return -1; /* a leading zero: not JSON */
        if (p < e && (*p == '.' || *p == 'e' || *p == 'E'))
            return -1; /* a float */
    }
    j->p = p;
    *mag = v;
    return 0;
}

/* An integer in [lo, hi] (lo < 0 allowed): its value as uint64 (two's complement). */
static int
integer_in(J *j, int allow_string, int64_t lo, uint64_t hi, uint64_t *out)
{
    int neg;
    uint64_t m;
    if (integer(j, allow_string, &neg, &m) < 0)
        return -1;
    if (neg && m != 0) {
        if (lo >= 0 || m > (uint64_t)(-(lo + 1)) + 1)
            return -1;
        *out = (uint64_t)0 - m;
        return 0;
    }
    if (m > hi)
        return -1;
    *out = m;
    return 0;
}

/* A JSON number as a double, as float() of json.loads' value: finite only. */
static int
number(J *j, double *x)
{
    ws(j);
    cp p = j->p, e = j->e, s = p;
    if (p < e && *p == '-')
        p++;
    if (p >= e)
        return -1;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    else
        return -1;
    int is_int = 1;
    if (p < e && *p == '.') {
        is_int = 0;
        cp f = ++p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return -1;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        is_int = 0;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        cp f = p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return -1;
    }
    char text[64];
    if ((size_t)(p - s) >= sizeof text)
        return -1;
    memcpy(text, s, (size_t)(p - s));
    text[p - s] = 0;
    double v = lc_float_parse(text); /* correctly rounded, as float() reads it */
    if (!isfinite(v))
        return -1;
    if (is_int && v == 0)
        v = 0.0; /* float(-0) is 0.0: the int has no sign */
    j->p = p;
    *x = v;
    return 0;
}

static int
literal(J *j, const char *word)
{
    size_t n = strlen(word);
    ws(j);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, word, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

/* ------------------------------------------------------------ the messages */

typedef int (*member_fn)(J *j, int index, void *ctx);

/* A message in JSON: the names its object may hold, the reader of a member's value
 * (by the name's index), and how many members it may have (an AnyValue: one). */
typedef struct {
    const char *const *names;
    int count, most;
    member_fn fn;
} Msg;

/* A JSON object of msg's names, each member's value read by its fn; a name given
 * twice, unknown, or past msg's most declines. */
static int
object(J *j, const Msg *msg, void *ctx)
{
    if (!take(j, '{'))
        return -1;
    unsigned seen = 0;
    if (take(j, '}'))
        return 0;
    for (int members = 1;; members++) {
        char name[MAX_NAME];
        size_t n;
        if (member_name(j, name, &n) < 0 || members > msg->most)
            return -1;
        int i = n <= MAX_NAME ? which(name, n, msg->names, msg->count) : -1;
        if (i < 0 || seen >> i & 1)
            return -1;
        seen |= 1u << i;
        if (msg->fn(j, i, ctx) < 0)
            return -1;
        if (take(j, ','))
            continue;
        return take(j, '}') ? 0 : -1;
    }
}

/* A message field `num`: its JSON object written as its bytes. */
static int
message(J *j, unsigned num, const Msg *msg, void *ctx)
{
    size_t at = open_len(j->w, num);
    if (at == (size_t)-1 || object(j, msg, ctx) < 0)
        return -1;
    close_len(j->w, at);
    return 0;
}

/* A repeated message field `num`: a JSON array of its objects. */
static int
messages(J *j, unsigned num, const Msg *msg, void *ctx)
{
    if (!take(j, '['))
        return -1;
    if (take(j, ']'))
        return 0;
    do
        if (message(j, num, msg, ctx) < 0)
            return -1;
    while (take(j, ','));
    return take(j, ']') ? 0 : -1;
}

/* A string field: left out when empty (its default), unless `always` (a oneof's
 * member is there even when empty). */
static int
string_field(J *j, unsigned num, int always)
{
    size_t start = j->w->len, at = open_len(j->w, num);
    if (at == (size_t)-1 || string(j, j->w) < 0)
        return -1;
    if (j->w->len == at + 5 && !always)
        j->w->len = start;
    else
        close_len(j->w, at);
    return 0;
}

static int
varint_field(J *j, unsigned num, int allow_string, int64_t lo, uint64_t hi)
{
    uint64_t v;
    if (integer_in(j, allow_string, lo, hi, &v) < 0)
        return -1;
    return v == 0 ? 0 : put_tag(j->w, num, 0) < 0 ? -1 : put_varint(j->w, v);
}

static int
fixed_field(J *j, unsigned num, size_t size)
{
    uint64_t v;
    if (integer_in(j, 1, 0, size == 8 ? UINT64_MAX : UINT32_MAX, &v) < 0)
        return -1;
    if (v == 0)
        return 0;
    return put_tag(j->w, num, size == 8 ? 1 : 5) < 0 ? -1 : put_fixed(j->w, v, size);
}

/* A trace or span id: hex digits, two a byte, as bytes (empty: left out). */
static int
hex_field(J *j, unsigned num)
{
    ws(j);
    cp p = j->p, e = j->e;
    if (p >= e || *p != '"')
        return -1;
    cp s = ++p;
    while (p < e && lc_hexval(*p) >= 0)
        p++;
    if (p >= e || *p != '"' || (p - s) % 2)
        return -1;
    j->p = p + 1;
    if (p == s)
        return 0;
    size_t at = open_len(j->w, num);
    if (at == (size_t)-1 || lc_out_reserve(j->w, (size_t)(p - s) / 2) < 0)
        return -1;
    for (cp q = s; q < p; q += 2)
        j->w->buf[j->w->len++] = (unsigned char)(lc_hexval(q[0]) << 4 | lc_hexval(q[1]));
    close_len(j->w, at);
    return 0;
}

/* The messages of a value: each read with the depth of nesting it is at (ctx). */
static const Msg ANY, ARRAY, KVLIST, KEY_VALUE;

static int
any_member(J *j, int i, void *ctx)
{
    int depth = *(int *)ctx;
    lc_out *w = j->w;
    switch (i) {
    case 0:
        return string_field(j, 1, 1);
    case 1: {
        int b = literal(j, "true") == 0 ? 1 : literal(j, "false") == 0 ? 0 : -1;
        return b < 0 || put_tag(w, 2, 0) < 0 ? -1 : put_varint(w, (uint64_t)b);
    }
    case 2: {
        uint64_t v;
        if (integer_in(j, 1, INT64_MIN, INT64_MAX, &v) < 0)
            return -1;
        return put_tag(w, 3, 0) < 0 ? -1 : put_varint(w, v);
    }
    case 3: {
        double x;
        uint64_t bits;
        if (number(j, &x) < 0)
            return -1;
        memcpy(&bits, &x, sizeof bits);
        return put_tag(w, 4, 1) < 0 ? -1 : put_fixed(w, bits, 8);
    }
    default: {
        if (depth + 1 >= MAX_NEST)
            return -1;
        int inner = depth + 1;
        return message(j, i == 4 ? 5 : 6, i == 4 ? &ARRAY : &KVLIST, &inner);
    }
    }
}

static int
kv_member(J *j, int i, void *ctx)
{
    return i == 0 ? string_field(j, 1, 0) : message(j, 2, &ANY, ctx);
}

static const char *const ANY_NAMES[] = {"stringValue", "boolValue",  "intValue",
                                        "doubleValue", "arrayValue", "kvlistValue"};
static const char *const VALUES[] = {"values"};
static const char *const KV_NAMES[] = {"key", "value"};

static int array_values(J *j, int i, void *ctx);
static int kvlist_values(J *j, int i, void *ctx);

static const Msg ANY = {ANY_NAMES, 6, 1, any_member};
static const Msg ARRAY = {VALUES, 1, 1, array_values};
static const Msg KVLIST = {VALUES, 1, 1, kvlist_values};
static const Msg KEY_VALUE = {KV_NAMES, 2, 2, kv_member};

static int
array_values(J *j, int i, void *ctx)
{
    (void)i;
    return messages(j, 1, &ANY, ctx);
}

static int
kvlist_values(J *j, int i, void *ctx)
{
    (void)i;
    return messages(j, 1, &KEY_VALUE, ctx);
}

static int
attributes(J *j, unsigned num)
{
    int depth = 0;
    return messages(j, num, &KEY_VALUE, &depth);
}

static int
record_member(J *j, int i, void *ctx)
{
    (void)ctx;
    switch (i) {
    case 0: return fixed_field(j, 1, 8);
    case 1: return fixed_field(j, 11, 8);
    case 2: return varint_field(j, 2, 0, INT32_MIN, INT32_MAX);
    case 3: return string_field(j, 3, 0);
    case 4: {
        int depth = 0;
        return message(j, 5, &ANY, &depth);
    }
    case 5: return attributes(j, 6);
    case 6: return varint_field(j, 7, 1, 0, UINT32_MAX);
    case 7: return fixed_field(j, 8, 4);
    case 8: return hex_field(j, 9);
    case 9: return hex_field(j, 10);
    default: return string_field(j, 12, 0);
    }
}

static int
scope_member(J *j, int i, void *ctx)
{
    (void)ctx;
    return i == 0   ? string_field(j, 1, 0)
           : i == 1 ? string_field(j, 2, 0)
           : i == 2 ? attributes(j, 3)
                    : varint_field(j, 4, 1, 0, UINT32_MAX);
}

static const char *const RECORD_NAMES[] = {
    "timeUnixNano", "observedTimeUnixNano", "severityNumber", "severityText",
    "body",         "attributes",           "droppedAttributesCount", "flags",
    "traceId",      "spanId",               "eventName"};
static const char *const SCOPE_NAMES[] = {"name", "version", "attributes",
                                          "droppedAttributesCount"};
static const Msg RECORD = {RECORD_NAMES, 11, 11, record_member};
static const Msg SCOPE = {SCOPE_NAMES, 4, 4, scope_member};

static int
scope_logs_member(J *j, int i, void *ctx)
{
    return i == 0   ? message(j, 1, &SCOPE, ctx)
           : i == 1 ? messages(j, 2, &RECORD, ctx)
                    : string_field(j, 3, 0);
}

static int
resource_member(J *j, int i, void *ctx)
{
    (void)ctx;
    return i == 0 ? attributes(j, 1) : varint_field(j, 2, 1, 0, UINT32_MAX);
}

static const char *const SCOPE_LOGS_NAMES[] = {"scope", "logRecords", "schemaUrl"};
static const char *const RESOURCE_NAMES[] = {"attributes", "droppedAttributesCount"};
static const Msg SCOPE_LOGS = {SCOPE_LOGS_NAMES, 3, 3, scope_logs_member};
static const Msg RESOURCE = {RESOURCE_NAMES, 2, 2, resource_member};

static int
resource_logs_member(J *j, int i, void *ctx)
{
    return i == 0   ? message(j, 1, &RESOURCE, ctx)
           : i == 1 ? messages(j, 2, &SCOPE_LOGS, ctx)
                    : string_field(j, 3, 0);
}

static const char *const RESOURCE_LOGS_NAMES[] = {"resource", "scopeLogs", "schemaUrl"};
static const Msg RESOURCE_LOGS = {RESOURCE_LOGS_NAMES, 3, 3, resource_logs_member};

static int
request_member(J *j, int i, void *ctx)
{
    (void)i;
    return messages(j, 1, &RESOURCE_LOGS, ctx);
}

static const char *const REQUEST_NAMES[] = {"resourceLogs"};
static const Msg REQUEST = {REQUEST_NAMES, 1, 1, request_member};

int
lc_otlp_json_wire(const unsigned char *body, size_t n, lc_out *wire)
{
    if (!lc_json_utf8_valid(body, n))
        return -1;
    J j = {body, body + n, wire};
    if (object(&j, &REQUEST, NULL) < 0)
        return -1;
    ws(&j);
    return j.p == j.e ? 0 : -1;
}
