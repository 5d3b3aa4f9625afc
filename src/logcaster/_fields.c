/* Field values of stored lines, read in C over regions, GIL released.
 *
 * The C twin of logcaster.query.fields (docs/query.md, "Fields"): host_of,
 * app_of and facility_of (a syslog PRI line's HOST and APP from its header,
 * RFC 5424, RFC 3164 and its variants, its facility from the PRI; otherwise a
 * JSON object's top-level keys, the last of duplicates as json.loads keeps it,
 * else a logfmt `host=` / `app=` pair), fields_of(line).get(NAME) for
 * field.NAME (a JSON object's top-level key, else the first logfmt pair, also in
 * a syslog MSG), and structured_level (a JSON numeric `level`). Values are
 * bytes: the UTF-8 (surrogateescape) encoding of the text the reference gives.
 *
 * A line this reader cannot decide exactly is "unsure" and goes back to the
 * caller, which reads it with the Python reference: a JSON text holding an
 * encoded surrogate or decoding as UTF-16/32, a lone \uD800 surrogate or a
 * float or an array as the value looked for, a non-ASCII GELF facility, a
 * nesting deeper than MAX_DEPTH, an integer of thousands of digits, a prefix
 * test ending inside a UTF-8 sequence; for field.NAME also a nested JSON name,
 * SD params and a syslog header's own fields. Real senders produce none but the
 * last few.
 *
 * field_lines() keeps the lines of some spans whose field equals a value (or
 * starts with it); field_values() counts the lines per value of a field in a
 * hash table; level_lines() keeps the lines of some levels (a JSON numeric level
 * first, then _filters.c's token level). tests/test_fields_native.py compares
 * them with the Python reference on generated lines of every format.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef const unsigned char *cp;

enum { K_HOST, K_APP, K_FACILITY, K_FIELD };
enum { V_ABSENT, V_FOUND, V_UNSURE };
enum { J_ABSENT, J_STR, J_INT, J_FLOAT, J_TRUE, J_FALSE, J_NULL, J_OBJ, J_ARR, J_CONST };
enum { J_OK, J_INVALID, J_NOTSURE };

#define MAX_DEPTH 400       /* deeper JSON: unsure (Python: RecursionError near 1000) */
#define MAX_INT_DIGITS 4000 /* longer JSON integers: unsure (Python refuses > 4300) */

/* The syslog facility and severity names, each as 16 bytes to copy whole (NUL
 * padded) and its length. */
#define NAME16(x) {x, sizeof(x) - 1}
typedef struct {
    char s[16];
    unsigned char n;
} name16;
static const name16 FACILITIES[24] = {
    NAME16("kern"),   NAME16("user"),   NAME16("mail"),     NAME16("daemon"),
    NAME16("auth"),   NAME16("syslog"), NAME16("lpr"),      NAME16("news"),
    NAME16("uucp"),   NAME16("cron"),   NAME16("authpriv"), NAME16("ftp"),
    NAME16("ntp"),    NAME16("security"), NAME16("console"), NAME16("solaris-cron"),
    NAME16("local0"), NAME16("local1"), NAME16("local2"),   NAME16("local3"),
    NAME16("local4"), NAME16("local5"), NAME16("local6"),   NAME16("local7"),
};
static const name16 SEVERITY_NAMES[8] = {
    NAME16("EMERG"), NAME16("ALERT"),  NAME16("CRITICAL"), NAME16("ERROR"),
    NAME16("WARN"),  NAME16("NOTICE"), NAME16("INFO"),     NAME16("DEBUG"),
};

typedef struct {
    cp s;
    size_t n;
} val_t;

typedef lc_scratch scratch_t;

static unsigned char *
scratch(scratch_t *sc, size_t n)
{
    if (n > sc->cap) {
        size_t cap = sc->cap ? sc->cap : 256;
        while (cap < n)
            cap *= 2;
        unsigned char *b = realloc(sc->buf, cap);
        if (b == NULL)
            return NULL;
        sc->buf = b;
        sc->cap = cap;
    }
    return sc->buf;
}

/* Python's bytes \s (and bytes.strip()): space, \t \n \v \f \r. */
static inline int
py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static inline int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ------------------------------------------------------------ syslog header */

/* fields._pri: the PRI of a line starting "<PRI>" (0-191, no leading zero), with
 * *end after the '>'; -1 when none. */
static int
pri_of(cp s, size_t n, size_t *end)
{
    if (n < 3 || s[0] != '<')
        return -1;
    size_t close = 0, lim = n < 5 ? n : 5;
    for (size_t i = 1; i < lim; i++)
        if (s[i] == '>') {
            close = i;
            break;
        }
    if (close < 2 || (close > 2 && s[1] == '0'))
        return -1;
    int v = 0;
    for (size_t i = 1; i < close; i++) {
        if (!is_digit(s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 191)
        return -1;
    *end = close + 1;
    return v;
}

/* The end of the logfmt value quoted at s[vpos] ('"'), past its closing quote
 * (backslash escapes skipped), or vpos when it is unterminated (the empty value);
 * *eq set when the value holds a '=' and *bs when it holds a backslash: 16 bytes at a time to the closing
 * quote while there is no backslash (the usual quoted message). */
static inline size_t
quoted_scan(cp s, size_t n, size_t vpos, int *eq, int *bs)
{
    size_t i = vpos + 1;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  equal = _mm_set1_epi8('=');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        unsigned e = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, equal));
        if (m == 0) {
            *eq |= e != 0;
            continue;
        }
        unsigned j = (unsigned)__builtin_ctz(m);
        *eq |= (e & ((1u << j) - 1)) != 0;
        i += j;
        if (s[i] == '"')
            return i + 1;
        break; /* a backslash: byte by byte from it */
    }
#endif
    while (i < n && s[i] != '"') {
        if (s[i] == '\\') {
            *bs = 1;
            if (i + 1 >= n)
                break;
            i++;
        }
        *eq |= s[i] == '=';
        i++;
    }
    return i < n && s[i] == '"' ? i + 1 : vpos;
}

/* `(?: |$)` at i: where the match ends, or 0 (never a valid end here) when none. */
static inline size_t
space_or_end(size_t i, size_t n, cp s)
{
    if (i == n)
        return n;
    return s[i] == ' ' ? i + 1 : 0;
}

/* fields._TS3164 at pos: `[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?: |$)`; end or 0. */
static size_t
ts3164(cp s, size_t n, size_t pos)
{
    if (n - pos < 15)
        return 0;
    cp t = s + pos;
    if (!(t[0] >= 'A' && t[0] <= 'Z') || !(t[1] >= 'a' && t[1] <= 'z') ||
        !(t[2] >= 'a' && t[2] <= 'z') || t[3] != ' ' || !(t[4] == ' ' || is_digit(t[4])) ||
        !is_digit(t[5]) || t[6] != ' ' || !is_digit(t[7]) || !is_digit(t[8]) || t[9] != ':' ||
        !is_digit(t[10]) || !is_digit(t[11]) || t[12] != ':' || !is_digit(t[13]) || !is_digit(t[14]))
        return 0;
    return space_or_end(pos + 15, n, s);
}

/* fields._TS3339 at pos: `\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\S*(?: |$)`; end or 0. */
static size_t
ts3339(cp s, size_t n, size_t pos)
{
    if (n - pos < 19)
        return 0;
    cp t = s + pos;
    static const char shape[] = "dddd-dd-ddXdd:dd:dd";
    for (int i = 0; i < 19; i++) {
        char k = shape[i];
        if (k == 'd' ? !is_digit(t[i]) : k == 'X' ? !(t[i] == 'T' || t[i] == ' ') : t[i] != k)
            return 0;
    }
    size_t j = pos + 19;
    while (j < n && !py_space(s[j]))
        j++;
    return space_or_end(j, n, s);
}

/* fields._TAG at pos: `([^\s\[\]:]{1,64})(?:\[([^\]\s]*)\])?:(?: |$)`; the tag
 * in *tag and the end, or 0. */
enum { T_STOP = 1, T_PID_STOP = 2 };
/* The bytes a TAG stops at (\s [ ] :) and those its PID stops at (\s ]). */
static const unsigned char TAG_CLASS[256] = {
    ['\t' ... '\r'] = T_STOP | T_PID_STOP,
    [' '] = T_STOP | T_PID_STOP,
    [']'] = T_STOP | T_PID_STOP,
    ['['] = T_STOP,
    [':'] = T_STOP,
};

static size_t
tag_at(cp s, size_t n, size_t pos, val_t *tag)
{
    size_t q = pos, lim = n - pos > 65 ? pos + 65 : n;
    while (q < lim && !(TAG_CLASS[s[q]] & T_STOP))
        q++;
    size_t k = q - pos;
    if (k == 0 || k > 64 || q == n)
        return 0;
    if (s[q] == '[') {
        size_t r = q + 1;
        while (r < n && !(TAG_CLASS[s[r]] & T_PID_STOP))
            r++;
        if (r == n || s[r] != ']')
            return 0;
        q = r + 1;
    }
    if (q >= n || s[q] != ':')
        return 0;
    size_t end = space_or_end(q + 1, n, s);
    if (!end)
        return 0;
    tag->s = s + pos;
    tag->n = k;
    return end;
}

/* Where the SD params at s[pos] (a '[') end: MSG's start (fields._structured_data). */
static size_t
sd_end(cp s, size_t n, size_t pos)
{
    while (pos < n && s[pos] == '[') {
        size_t i = pos + 1;
        while (i < n && s[i] != ' ' && s[i] != ']')
            i++;
        while (i < n && s[i] == ' ') {
            i++;
            while (i < n && s[i] != '=' && s[i] != ']')
                i++;
            if (!(i + 1 < n && s[i] == '=' && s[i + 1] == '"'))
                break;
            i += 2;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                i++;
            }
            i++;
        }
        cp close = i < n ? memchr(s + i, ']', n - i) : NULL;
        if (close == NULL)
            return n;
        pos = (size_t)(close - s) + 1;
    }
    return pos < n && s[pos] == ' ' ? pos + 1 : pos;
}

/* A syslog header's words (n 0: absent) and where its MSG starts, as
 * fields._syslog reads them: RFC 5424 TIMESTAMP HOST APP-NAME PROCID MSGID (split
 * on single spaces, "-" or empty: absent; `sd` set when SD params follow, whose
 * fields the general reader leaves to Python), or an RFC 3164 timestamp, HOST,
 * TAG (the app) and [PID], each but the PRI optional. */
typedef struct {
    size_t o, n;
} word_t;
typedef struct {
    word_t ts, host, app, pid, msgid;
    size_t msg;
    int sd;
} syslog_head;

/* Read a syslog header (syslog_head) whose PRI ends at pos. */
static void
syslog_header(cp s, size_t n, size_t pos, syslog_head *h)
{
    *h = (syslog_head){.sd = 0};
    if (n - pos >= 2 && s[pos] == '1' && s[pos + 1] == ' ') { /* RFC 5424 */
        word_t *words[5] = {&h->ts, &h->host, &h->app, &h->pid, &h->msgid};
        size_t i = pos + 2;
        for (int w = 0; w < 5; w++) {
            cp sp = i < n ? memchr(s + i, ' ', n - i) : NULL;
            size_t e = sp ? (size_t)(sp - s) : n;
            if (e > i && !(e - i == 1 && s[i] == '-'))
                *words[w] = (word_t){i, e - i};
            i = sp ? e + 1 : n;
        }
        h->sd = i < n && s[i] != '-';
        h->msg = h->sd ? sd_end(s, n, i) : i + 2 < n ? i + 2 : n; /* past "- " */
        if (n - h->msg >= 3 && s[h->msg] == 0xEF && s[h->msg + 1] == 0xBB &&
            s[h->msg + 2] == 0xBF)
            h->msg += 3; /* a BOM before MSG */
        return;
    }
    size_t p = pos, ts = ts3164(s, n, pos), te;
    if (!ts)
        ts = ts3339(s, n, pos);
    val_t tag;
    if (ts) {
        size_t end = ts;
        while (end > p && s[end - 1] == ' ')
            end--;
        h->ts = (word_t){p, end - p};
        p = ts;
        te = tag_at(s, n, p, &tag);
        if (!te) { /* HOST TAG: MSG, or HOST MSG */
            cp sp = memchr(s + p, ' ', n - p);
            size_t e = sp ? (size_t)(sp - s) : n;
            if (e > p) {
                h->host = (word_t){p, e - p};
                p = sp ? e + 1 : n;
            }
            te = tag_at(s, n, p, &tag);
        }
    } else
        te = tag_at(s, n, p, &tag);
    if (te) {
        h->app = (word_t){p, tag.n};
        size_t q = p + tag.n;
        if (s[q] == '[') { /* tag_at found its ']' */
            size_t e = q + 1;
            while (s[e] != ']')
                e++;
            h->pid = (word_t){q + 1, e - q - 1};
        }
        p = te;
    }
    h->msg = p;
}

/* fields._host_app for a line whose PRI ends at pos: HOST and APP (*has_* 0 when
 * absent; app NULL: HOST only). The filters' own short reader: through
 * syslog_header, `host=` filters took twice as long (benchmarks/fields_bench.py). */
static void
header_host_app(cp s, size_t n, size_t pos, val_t *host, int *has_host, val_t *app, int *has_app)
{
    *has_host = *has_app = 0;
    if (n - pos >= 2 && s[pos] == '1' && s[pos + 1] == ' ') { /* RFC 5424 */
        size_t i = pos + 2;
        val_t w[3];
        int got = 0;
        for (; got < 3; got++) { /* TIMESTAMP HOST APP, split on single spaces */
            cp sp = i <= n ? memchr(s + i, ' ', n - i) : NULL;
            size_t e = sp ? (size_t)(sp - s) : n;
            w[got].s = s + i;
            w[got].n = e - i;
            if (sp == NULL) {
                got++;
                break;
            }
            i = e + 1;
        }
        if (got > 1 && w[1].n && !(w[1].n == 1 && w[1].s[0] == '-')) {
            *host = w[1];
            *has_host = 1;
        }
        if (app != NULL && got > 2 && w[2].n && !(w[2].n == 1 && w[2].s[0] == '-')) {
            *app = w[2];
            *has_app = 1;
        }
        return;
    }
    size_t ts = ts3164(s, n, pos);
    if (!ts)
        ts = ts3339(s, n, pos);
    val_t tag;
    if (ts) {
        pos = ts;
        if (!tag_at(s, n, pos, &tag)) { /* HOST TAG: MSG, or HOST MSG */
            cp sp = memchr(s + pos, ' ', n - pos);
            size_t e = sp ? (size_t)(sp - s) : n;
            if (e > pos) {
                host->s = s + pos;
                host->n = e - pos;
                *has_host = 1;
                pos = sp ? e + 1 : n;
            }
        }
    }
    if (app != NULL && tag_at(s, n, pos, &tag)) {
        *app = tag;
        *has_app = 1;
    }
}

/* ------------------------------------------------------------ JSON */

/* The UTF-8 check json.loads makes (it decodes with 'surrogatepass'): 0 strict
 * UTF-8, 1 holds an encoded surrogate (decodable; left to Python), -1 invalid. */
static int
utf8_check(cp s, size_t n)
{
    size_t i = 0;
    int surrogate = 0;
    while (i < n) {
        if (i + 8 <= n) {
            unsigned long long w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED && i + 1 < n && s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF) {
                if (i + 2 < n && s[i + 2] >= 0x80 && s[i + 2] <= 0xBF) {
                    surrogate = 1;
                    i += 3;
                    continue;
                }
                return -1;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else
            return -1;
        if (i + len > n || s[i + 1] < lo || s[i + 1] > hi)
            return -1;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return -1;
        i += len;
    }
    return surrogate;
}

typedef struct {
    const char *key; /* a top-level key looked for */
    size_t klen;
    int type; /* J_*: of its last occurrence */
    cp vs, ve; /* the value's text (a string's: between the quotes) */
    int esc;   /* a string value with escapes */
} jkey_t;

typedef struct {
    cp p, e;
    int notsure;
} jscan_t;

static inline void
j_ws(jscan_t *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static inline int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A string at j->p (a '"'): 0 and past it, *esc set when it holds escapes; -1
 * invalid (a control character, a bad escape, no closing quote). */
static int
j_string(jscan_t *j, int *esc)
{
    cp p = j->p + 1, e = j->e;
    *esc = 0;
    while (p < e) {
#if defined(__SSE2__)
        if (e - p >= 16) { /* to the first '"', '\\' or control byte of 16 */
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i ctrl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1F)), v);
            unsigned m = (unsigned)_mm_movemask_epi8(
                _mm_or_si128(ctrl, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));
            if (m == 0) {
                p += 16;
                continue;
            }
            p += __builtin_ctz(m);
        }
#endif
        if (e - p >= 8) { /* 8 plain bytes at a time: no '"', '\\' or control byte */
            unsigned long long w, ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
            memcpy(&w, p, 8);
            unsigned long long q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            unsigned long long special = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w);
            if (!(special & highs)) {
                p += 8;
                continue;
            }
        }
        unsigned char c = *p;
        if (c == '"') {
            j->p = p + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            *esc = 1;
            if (p + 1 >= e)
                return -1;
            unsigned char k = p[1];
            if (k == 'u') {
                if (e - p < 6 || hexval(p[2]) < 0 || hexval(p[3]) < 0 || hexval(p[4]) < 0 ||
                    hexval(p[5]) < 0)
                    return -1;
                p += 6;
                continue;
            }
            if (!(k == '"' || k == '\\' || k == '/' || k == 'b' || k == 'f' || k == 'n' ||
                  k == 'r' || k == 't'))
                return -1;
            p += 2;
            continue;
        }
        p++;
    }
    return -1;
}

/* Unescape the JSON string text [s, e) (valid) into out (at least e - s bytes) as
 * UTF-8; its length, or -1 when it holds a lone surrogate (left to Python). */
static long
j_unescape(cp s, cp e, unsigned char *out)
{
    unsigned char *o = out;
    while (s < e) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        unsigned char k = s[1];
        if (k != 'u') {
            *o++ = k == 'b' ? '\b' : k == 'f' ? '\f' : k == 'n' ? '\n' : k == 'r' ? '\r'
                 : k == 't' ? '\t' : k;
            s += 2;
            continue;
        }
        unsigned long c = (unsigned long)(hexval(s[2]) << 12 | hexval(s[3]) << 8 |
                                          hexval(s[4]) << 4 | hexval(s[5]));
        s += 6;
        if (c >= 0xD800 && c <= 0xDBFF && e - s >= 6 && s[0] == '\\' && s[1] == 'u') {
            unsigned long c2 = (unsigned long)(hexval(s[2]) << 12 | hexval(s[3]) << 8 |
                                               hexval(s[4]) << 4 | hexval(s[5]));
            if (c2 >= 0xDC00 && c2 <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00);
                s += 6;
            }
        }
        if (c >= 0xD800 && c <= 0xDFFF)
            return -1;
        if (c < 0x80)
            *o++ = (unsigned char)c;
        else if (c < 0x800) {
            *o++ = (unsigned char)(0xC0 | c >> 6);
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            *o++ = (unsigned char)(0xE0 | c >> 12);
            *o++ = (unsigned char)(0x80 | (c >> 6 & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        } else {
            *o++ = (unsigned char)(0xF0 | c >> 18);
            *o++ = (unsigned char)(0x80 | (c >> 12 & 0x3F));
            *o++ = (unsigned char)(0x80 | (c >> 6 & 0x3F));
            *o++ = (unsigned char)(0x80 | (c & 0x3F));
        }
    }
    return (long)(o - out);
}

static int j_value(jscan_t *j, int depth, int *type);

/* A number at j->p, as the json module's scanner reads it: J_INT or J_FLOAT,
 * -1 when none. */
static int
j_number(jscan_t *j)
{
    cp p = j->p, e = j->e, start = p;
    int type = J_INT;
    if (p < e && *p == '-')
        p++;
    if (p < e && *p >= '1' && *p <= '9') {
        while (p < e && is_digit(*p))
            p++;
    } else if (p < e && *p == '0') {
        p++;
    } else
        return -1;
    if (p + 1 < e && *p == '.' && is_digit(p[1])) {
        type = J_FLOAT;
        p += 2;
        while (p < e && is_digit(*p))
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        cp q = p + 1;
        if (q < e && (*q == '-' || *q == '+'))
            q++;
        cp d = q;
        while (q < e && is_digit(*q))
            q++;
        if (q > d) {
            type = J_FLOAT;
            p = q;
        }
    }
    if (type == J_INT && p - start > MAX_INT_DIGITS)
        j->notsure = 1;
    j->p = p;
    return type;
}

static inline int
j_word(jscan_t *j, const char *w, size_t k)
{
    if ((size_t)(j->e - j->p) >= k && memcmp(j->p, w, k) == 0) {
        j->p += k;
        return 1;
    }
    return 0;
}

/* An object at j->p (a '{'); the members of the top level (depth 0) whose key is
 * one of keys[0:nkeys] are recorded there, the last one winning. */
static int
j_object(jscan_t *j, int depth, jkey_t *keys, int nkeys, unsigned char *kbuf)
{
    if (depth > MAX_DEPTH) {
        j->notsure = 1;
        return -1;
    }
    j->p++;
    j_ws(j);
    if (j->p < j->e && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        if (j->p >= j->e || *j->p != '"')
            return -1;
        cp ks = j->p + 1;
        int kesc, vesc = 0, type;
        if (j_string(j, &kesc) < 0)
            return -1;
        cp ke = j->p - 1;
        j_ws(j);
        if (j->p >= j->e || *j->p != ':')
            return -1;
        j->p++;
        j_ws(j);
        cp vs = j->p;
        if (j->p < j->e && *j->p == '"') {
            if (j_string(j, &vesc) < 0)
                return -1;
            type = J_STR;
        } else if (j_value(j, depth + 1, &type) < 0)
            return -1;
        cp ve = j->p;
        if (nkeys) {
            cp k = ks;
            size_t kn = (size_t)(ke - ks);
            if (kesc) { /* compare the key as json.loads reads it */
                long m = j_unescape(ks, ke, kbuf);
                kn = m < 0 ? 0 : (size_t)m; /* a lone surrogate: no key looked for */
                k = kbuf;
            }
            for (int i = 0; i < nkeys; i++)
                if (keys[i].klen == kn && memcmp(keys[i].key, k, kn) == 0) {
                    keys[i].type = type;
                    keys[i].vs = type == J_STR ? vs + 1 : vs;
                    keys[i].ve = type == J_STR ? ve - 1 : ve;
                    keys[i].esc = vesc;
                }
        }
        j_ws(j);
        if (j->p >= j->e)
            return -1;
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        if (*j->p != ',')
            return -1;
        j->p++;
        j_ws(j);
    }
}

static int
j_array(jscan_t *j, int depth)
{
    if (depth > MAX_DEPTH) {
        j->notsure = 1;
        return -1;
    }
    j->p++;
    j_ws(j);
    if (j->p < j->e && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        int type;
        if (j_value(j, depth + 1, &type) < 0)
            return -1;
        j_ws(j);
        if (j->p >= j->e)
            return -1;
        if (*j->p == ']') {
            j->p++;
            return 0;
        }
        if (*j->p != ',')
            return -1;
        j->p++;
        j_ws(j);
    }
}

/* Any value at j->p (after whitespace); its type in *type. */
static int
j_value(jscan_t *j, int depth, int *type)
{
    if (j->p >= j->e)
        return -1;
    int esc;
    switch (*j->p) {
    case '"':
        *type = J_STR;
        return j_string(j, &esc);
    case '{':
        *type = J_OBJ;
        return j_object(j, depth, NULL, 0, NULL);
    case '[':
        *type = J_ARR;
        return j_array(j, depth);
    case 't':
        *type = J_TRUE;
        return j_word(j, "true", 4) ? 0 : -1;
    case 'f':
        *type = J_FALSE;
        return j_word(j, "false", 5) ? 0 : -1;
    case 'n':
        *type = J_NULL;
        return j_word(j, "null", 4) ? 0 : -1;
    case 'N':
        *type = J_CONST;
        return j_word(j, "NaN", 3) ? 0 : -1;
    case 'I':
        *type = J_CONST;
        return j_word(j, "Infinity", 8) ? 0 : -1;
    case '-':
        if (j_word(j, "-Infinity", 9)) {
            *type = J_CONST;
            return 0;
        }
        /* fall through */
    default:
        *type = j_number(j);
        return *type < 0 ? -1 : 0;
    }
}

/* fields._json: is the line (stripped) a JSON object json.loads reads? J_OK with
 * the looked-for keys filled in, J_INVALID, or J_NOTSURE. */
static int
json_top(cp s, size_t n, jkey_t *keys, int nkeys, scratch_t *sc)
{
    for (int i = 0; i < nkeys; i++)
        keys[i].type = J_ABSENT;
    while (n && py_space(s[n - 1]))
        n--;
    while (n && py_space(s[0])) {
        s++;
        n--;
    }
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return J_INVALID;
    if (n >= 4 && s[1] == 0) /* json.detect_encoding: UTF-16 or UTF-32 */
        return J_NOTSURE;
    int utf = utf8_check(s, n);
    if (utf < 0)
        return J_INVALID;
    if (utf > 0)
        return J_NOTSURE;
    unsigned char *kbuf = scratch(sc, n);
    if (kbuf == NULL)
        return J_NOTSURE;
    jscan_t j = {s, s + n, 0};
    int r = j_object(&j, 0, keys, nkeys, kbuf);
    if (j.notsure)
        return J_NOTSURE;
    return r < 0 || j.p != j.e ? J_INVALID : J_OK;
}

/* The text Python gives a JSON value found by fields._plain_value (a string; a
 * number, true, false as JSON text); V_ABSENT for null, an object, an array. */
static int
json_text(const jkey_t *k, scratch_t *sc, val_t *out)
{
    switch (k->type) {
    case J_STR:
        if (k->esc) {
            unsigned char *b = scratch(sc, (size_t)(k->ve - k->vs) + 1);
            if (b == NULL)
                return V_UNSURE;
            long m = j_unescape(k->vs, k->ve, b);
            if (m < 0)
                return V_UNSURE;
            out->s = b;
            out->n = (size_t)m;
        } else {
            out->s = k->vs;
            out->n = (size_t)(k->ve - k->vs);
        }
        return V_FOUND;
    case J_INT: /* json.dumps(int(text)): the text, but -0 is 0 */
        out->s = k->vs;
        out->n = (size_t)(k->ve - k->vs);
        if (out->n == 2 && out->s[0] == '-' && out->s[1] == '0') {
            out->s++;
            out->n = 1;
        }
        return V_FOUND;
    case J_TRUE:
    case J_FALSE:
    case J_CONST:
        out->s = k->vs;
        out->n = (size_t)(k->ve - k->vs);
        return V_FOUND;
    case J_FLOAT:
        return V_UNSURE; /* repr(float): left to Python */
    default:
        return V_ABSENT;
    }
}

/* ------------------------------------------------------------ logfmt */

/* fields._HOST_KV / _APP_KV search and _unquote: the value of the first `key=` at
 * the line's start or after whitespace. */
static int
logfmt_value(cp s, size_t n, const char *key, size_t klen, scratch_t *sc, val_t *out)
{
    /* Each `key=` is an '=' after the key's name: found by the '=' bytes, in order
     * (memchr; a short line holds few), rather than a search for the whole key. */
    size_t from = klen - 1, name = klen - 1;
    for (;;) {
        cp eq = from < n ? memchr(s + from, '=', n - from) : NULL;
        if (eq == NULL)
            return V_ABSENT;
        size_t p = (size_t)(eq - s) - name;
        from = (size_t)(eq - s) + 1;
        if (s[p] != (unsigned char)key[0] || memcmp(s + p, key, name) != 0)
            continue;
        if (p == 0 || py_space(s[p - 1])) {
            size_t v = p + klen;
            if (v < n && s[v] == '"') {
                size_t i = v + 1;
                int esc = 0;
                while (i < n && s[i] != '"') {
                    if (s[i] == '\\') {
                        if (i + 1 >= n)
                            break;
                        esc = 1;
                        i++;
                    }
                    i++;
                }
                if (i >= n || s[i] != '"') { /* unterminated: the empty unquoted value */
                    out->s = s + v;
                    out->n = 0;
                    return V_FOUND;
                }
                if (!esc) {
                    out->s = s + v + 1;
                    out->n = i - v - 1;
                    return V_FOUND;
                }
                unsigned char *b = scratch(sc, i - v);
                if (b == NULL)
                    return V_UNSURE;
                size_t m = 0;
                for (size_t k = v + 1; k < i; k++) {
                    if (s[k] == '\\')
                        k++;
                    b[m++] = s[k];
                }
                out->s = b;
                out->n = m;
                return V_FOUND;
            }
            size_t i = v;
            while (i < n && !py_space(s[i]) && s[i] != '"')
                i++;
            out->s = s + v;
            out->n = i - v;
            return V_FOUND;
        }
    }
}

/* ------------------------------------------------------------ facilities */

/* fields.facility_name of an ASCII text; NULL when it names none, and *unsure
 * for non-ASCII text (str.strip/lower/isdigit are Unicode-aware). */
static const char *
facility_name(cp s, size_t n, int *unsure)
{
    while (n && (py_space(s[n - 1]) || (s[n - 1] >= 0x1C && s[n - 1] <= 0x1F)))
        n--;
    while (n && (py_space(s[0]) || (s[0] >= 0x1C && s[0] <= 0x1F))) {
        s++;
        n--;
    }
    char low[16];
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) {
            *unsure = 1;
            return NULL;
        }
    if (memchr(s, 0, n) != NULL) /* no name holds a NUL */
        return NULL;
    if (n == 0 || n >= sizeof(low))
        return NULL;
    int digits = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        low[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        digits &= is_digit(c);
    }
    low[n] = 0;
    if (digits) {
        if (n > 2)
            return NULL;
        int v = n == 1 ? low[0] - '0' : (low[0] - '0') * 10 + (low[1] - '0');
        return v < 24 ? FACILITIES[v].s : NULL;
    }
    if (strcmp(low, "auth2") == 0)
        return "authpriv";
    if (strcmp(low, "clock") == 0)
        return "solaris-cron";
    for (int i = 0; i < 24; i++)
        if (strcmp(low, FACILITIES[i].s) == 0)
            return FACILITIES[i].s;
    return NULL;
}

/* ------------------------------------------------------------ field.NAME */

typedef struct {
    cp name;    /* NAME of field.NAME, as UTF-8 */
    size_t n;
    int dotted; /* NAME holds a '.': nested JSON or SD params, left to Python */
    int header; /* a syslog header's own field: left to Python on syslog lines */
} fname_t;

static const char *const HEADER_FIELDS[10] = {"pri",  "facility", "severity", "level",
                                              "timestamp", "host", "app", "procid",
                                              "msgid", "msg"};

static void
fname_init(fname_t *f, cp name, size_t n)
{
    f->name = name;
    f->n = n;
    f->dotted = memchr(name, '.', n) != NULL;
    f->header = 0;
    for (int i = 0; i < 10; i++)
        if (strlen(HEADER_FIELDS[i]) == n && memcmp(HEADER_FIELDS[i], name, n) == 0)
            f->header = 1;
}

/* Where a syslog line's MSG starts (fields._syslog), its PRI ending at pos: the
 * filters' own short reader (syslog_header also records the words). */
static size_t
msg_start(cp s, size_t n, size_t pos)
{
    if (n - pos >= 2 && s[pos] == '1' && s[pos + 1] == ' ') { /* RFC 5424 */
        pos += 2;
        for (int w = 0; w < 5; w++) { /* TIMESTAMP HOST APP PROCID MSGID */
            cp sp = pos < n ? memchr(s + pos, ' ', n - pos) : NULL;
            pos = sp ? (size_t)(sp - s) + 1 : n;
        }
        if (pos < n && s[pos] == '-') /* fields._structured_data */
            pos = pos + 2 < n ? pos + 2 : n;
        else
            pos = sd_end(s, n, pos);
        if (n - pos >= 3 && s[pos] == 0xEF && s[pos + 1] == 0xBB && s[pos + 2] == 0xBF)
            pos += 3; /* a BOM before MSG */
        return pos;
    }
    size_t ts = ts3164(s, n, pos);
    if (!ts)
        ts = ts3339(s, n, pos);
    val_t tag;
    if (ts) {
        pos = ts;
        if (!tag_at(s, n, pos, &tag)) {
            cp sp = memchr(s + pos, ' ', n - pos);
            size_t e = sp ? (size_t)(sp - s) : n;
            if (e > pos)
                pos = sp ? e + 1 : n;
        }
    }
    size_t end = tag_at(s, n, pos, &tag);
    return end ? end : pos;
}

static inline int
key_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static inline int
key_char(unsigned char c)
{
    return key_start(c) || is_digit(c) || c == '.' || c == '-' || c == '/' || c == '@';
}

/* fields._LOGFMT's matches in order (finditer), the first whose key is NAME:
 * its value, unquoted. */
static int
logfmt_field(cp s, size_t n, const fname_t *f, scratch_t *sc, val_t *out)
{
    /* a quick no: the key nowhere followed by '=' */
    for (cp k = s; (k = memmem(k, (size_t)(s + n - k), f->name, f->n)) != NULL; k++)
        if (k + f->n < s + n && k[f->n] == '=')
            goto scan;
    return V_ABSENT;
scan:;
    size_t p = 0;
    while (p < n) {
        if (p > 0 && !py_space(s[p - 1])) { /* to the next word */
            while (p < n && !py_space(s[p]))
                p++;
            p++;
            continue;
        }
        if (!key_start(s[p])) {
            p++;
            continue;
        }
        size_t k = p + 1;
        while (k < n && key_char(s[k]))
            k++;
        if (k >= n || s[k] != '=') {
            p++;
            continue;
        }
        /* a match: key s[p:k], value at k + 1 (as logfmt_value reads it) */
        size_t end;
        size_t vpos = k + 1;
        if (vpos < n && s[vpos] == '"') {
            int q_eq = 0, q_bs = 0;
            end = quoted_scan(s, n, vpos, &q_eq, &q_bs); /* unterminated: empty value */
        } else {
            end = vpos;
            while (end < n && !py_space(s[end]) && s[end] != '"')
                end++;
        }
        if (k - p == f->n && memcmp(s + p, f->name, f->n) == 0) {
            if (end > vpos && s[vpos] == '"') {
                size_t m = 0;
                unsigned char *b = scratch(sc, end - vpos);
                if (b == NULL)
                    return V_UNSURE;
                for (size_t i = vpos + 1; i + 1 < end; i++) {
                    if (s[i] == '\\')
                        i++;
                    b[m++] = s[i];
                }
                out->s = b;
                out->n = m;
            } else {
                out->s = s + vpos;
                out->n = end - vpos;
            }
            return V_FOUND;
        }
        p = end > p ? end : p + 1;
    }
    return V_ABSENT;
}

/* A JSON value as fields._flatten writes it: V_ABSENT for an object. */
static int
flat_text(const jkey_t *k, scratch_t *sc, val_t *out)
{
    switch (k->type) {
    case J_NULL:
        out->s = k->vs;
        out->n = 4;
        return V_FOUND;
    case J_ARR:
        return V_UNSURE; /* json.dumps of a list: left to Python */
    default:
        return json_text(k, sc, out);
    }
}

/* fields._text_fields: the field NAME of a message body (a JSON object's, else
 * a logfmt pair's). */
static int
body_field(cp s, size_t n, const fname_t *f, scratch_t *sc, val_t *out)
{
    jkey_t keys[2] = {{(const char *)f->name, f->n, 0, NULL, NULL, 0},
                      {"short_message", 13, 0, NULL, NULL, 0}};
    int is_msg = f->n == 3 && memcmp(f->name, "msg", 3) == 0;
    int js = json_top(s, n, keys, is_msg ? 2 : 1, sc);
    if (js == J_NOTSURE)
        return V_UNSURE;
    if (js != J_OK)
        return logfmt_field(s, n, f, sc, out);
    if (f->dotted)
        return V_UNSURE;
    int r = flat_text(&keys[0], sc, out);
    if (r != V_ABSENT || !is_msg)
        return r;
    return flat_text(&keys[1], sc, out); /* GELF's short_message is also msg */
}

/* fields.fields_of(line).get(NAME), for the names this reader knows. */
static int
field_value(cp s, size_t n, const fname_t *f, scratch_t *sc, val_t *out)
{
    size_t pos;
    if (pri_of(s, n, &pos) < 0)
        return body_field(s, n, f, sc, out);
    if (f->header || f->dotted)
        return V_UNSURE;
    size_t m = msg_start(s, n, pos);
    return body_field(s + m, n - m, f, sc, out);
}

/* ------------------------------------------------------------ one line */

/* The members a JSON object's host, app and facility come from: its host is the
 * first of JSON_KEYS[0:NHOST] with a scalar value (fields._HOST_KEYS), its app the
 * first of the next NAPP (_APP_KEYS), else GELF 1.0's facility. */
#define NHOST 5
#define NAPP 11
#define FACILITY_KEY (NHOST + NAPP)
#define NJSON (FACILITY_KEY + 1)
static const char *const JSON_KEYS[NJSON] = {
    "host", "host.name", "hostname", "HOST", "_HOSTNAME", "app", "_app", "appname", "application",
    "service", "service.name", "service_name", "PROGRAM", "program", "programname",
    "SYSLOG_IDENTIFIER", "facility"};
/* A dotted name's first part, as a place in JSON_KEYS (-1: no dotted name): without a
 * member of its own name (or a null one), "host.name" is the member "name" of an
 * object "host" (ECS nested, as Filebeat and Elastic's loggers write it). */
static const signed char JSON_OUTER[NJSON] = {-1, 0, -1, -1, -1, -1, -1, -1, -1,
                                              -1, 9, -1, -1, -1, -1, -1, -1};

/* keys[lo:hi] made ready for json_top to look for JSON_KEYS[lo:hi]. Not inlined:
 * in lc_piece_read that cost every record 6 instructions, even those (flat JSON
 * objects) that never get here. */
__attribute__((noinline)) static void
json_keys(jkey_t keys[NJSON], int lo, int hi)
{
    for (int i = lo; i < hi; i++)
        keys[i] = (jkey_t){JSON_KEYS[i], strlen(JSON_KEYS[i]), J_ABSENT, NULL, NULL, 0};
}

/* The member named after the dot of JSON_KEYS[i] in the object keys[JSON_OUTER[i]]
 * (json_top has checked it), as json_text gives it. */
static int
json_nested(int i, const jkey_t keys[NJSON], scratch_t *sc, val_t *out)
{
    const jkey_t *outer = &keys[(int)JSON_OUTER[i]];
    if (outer->type != J_OBJ)
        return V_ABSENT;
    unsigned char *kbuf = scratch(sc, (size_t)(outer->ve - outer->vs));
    if (kbuf == NULL)
        return V_UNSURE;
    const char *inner = JSON_KEYS[i] + keys[(int)JSON_OUTER[i]].klen + 1;
    jkey_t key = {inner, strlen(inner), J_ABSENT, NULL, NULL, 0};
    jscan_t j = {outer->vs, outer->ve, 0};
    if (j_object(&j, 1, &key, 1, kbuf) < 0 || j.notsure)
        return V_UNSURE;
    return json_text(&key, sc, out);
}

/* json_text of JSON_KEYS[i], or of its nested form (json_nested) when it has none. */
static int
json_key_text(int i, const jkey_t keys[NJSON], scratch_t *sc, val_t *out)
{
    int t = keys[i].type;
    if (JSON_OUTER[i] >= 0 && (t == J_ABSENT || t == J_NULL))
        return json_nested(i, keys, sc, out);
    return json_text(&keys[i], sc, out);
}

/* line_value() for host, app and facility of a line json_top() read as an object
 * (J_OK) with the keys JSON_KEYS (those of `kind` at least): the same values from one
 * parse for all three. */
static int
json_value(int kind, jkey_t keys[NJSON], cp s, scratch_t *sc, val_t *out)
{
    int r, unsure = 0;
    if (kind == K_HOST) {
        for (int i = 0; i < NHOST; i++)
            if ((r = json_key_text(i, keys, sc, out)) != V_ABSENT)
                return r;
        return V_ABSENT;
    }
    if (kind == K_APP) {
        for (int i = NHOST; i < NHOST + NAPP; i++)
            if ((r = json_key_text(i, keys, sc, out)) != V_ABSENT)
                return r;
        if (s[0] != '{') /* GELF 1.0's facility (a logger name) when no syslog one */
            return V_ABSENT;
        if ((r = json_text(&keys[FACILITY_KEY], sc, out)) != V_FOUND)
            return r;
        if (facility_name(out->s, out->n, &unsure) != NULL)
            return V_ABSENT;
        return unsure ? V_UNSURE : V_FOUND;
    }
    if (keys[FACILITY_KEY].type != J_STR && keys[FACILITY_KEY].type != J_INT)
        return V_ABSENT;
    val_t text;
    if ((r = json_text(&keys[FACILITY_KEY], sc, &text)) != V_FOUND)
        return r;
    const char *name = facility_name(text.s, text.n, &unsure);
    if (unsure)
        return V_UNSURE;
    if (name == NULL)
        return V_ABSENT;
    out->s = (cp)name;
    out->n = strlen(name);
    return V_FOUND;
}

/* The value of field `kind` of the line s[0:n] (no newline): V_FOUND with *out,
 * V_ABSENT, or V_UNSURE (the caller asks the Python reference). */
static int
line_value(int kind, const fname_t *f, cp s, size_t n, scratch_t *sc, val_t *out)
{
    if (kind == K_FIELD)
        return field_value(s, n, f, sc, out);
    size_t pos;
    int pri = pri_of(s, n, &pos);
    if (pri >= 0) {
        if (kind == K_FACILITY) {
            out->s = (cp)FACILITIES[pri >> 3].s;
            out->n = FACILITIES[pri >> 3].n;
            return V_FOUND;
        }
        val_t host, app;
        int has_host, has_app;
        header_host_app(s, n, pos, &host, &has_host, kind == K_APP ? &app : NULL, &has_app);
        if (kind == K_HOST ? !has_host : !has_app)
            return V_ABSENT;
        *out = kind == K_HOST ? host : app;
        return V_FOUND;
    }
    /* the keys of `kind`: JSON_KEYS[lo:hi] (an app's end with the facility) */
    int lo = kind == K_HOST ? 0 : kind == K_APP ? NHOST : FACILITY_KEY;
    int hi = kind == K_HOST ? NHOST : NJSON;
    jkey_t keys[NJSON];
    json_keys(keys, lo, hi);
    int js = json_top(s, n, keys + lo, hi - lo, sc);
    if (js == J_NOTSURE)
        return V_UNSURE;
    if (js == J_OK)
        return json_value(kind, keys, s, sc, out);
    if (kind == K_FACILITY)
        return V_ABSENT;
    return logfmt_value(s, n, kind == K_HOST ? "host=" : "app=", kind == K_HOST ? 5 : 4, sc, out);
}

int
lc_line_fields(const unsigned char *s, size_t n, lc_scratch sc[3], const unsigned char *v[3],
               size_t vn[3])
{
    int unsure = 0;
    for (int kind = K_HOST; kind <= K_FACILITY; kind++) {
        val_t out;
        int r = line_value(kind, NULL, s, n, &sc[kind], &out);
        v[kind] = r == V_FOUND ? out.s : NULL;
        vn[kind] = r == V_FOUND ? out.n : 0;
        unsure |= r == V_UNSURE;
    }
    return unsure;
}

/* ------------------------------------------------------------ over regions */

typedef struct {
    Py_buffer view, spans;
    const long long *sp;
    Py_ssize_t pairs;
} regions_t;

static int
get_regions(PyObject *buf, PyObject *spans, regions_t *r)
{
    if (PyObject_GetBuffer(buf, &r->view, PyBUF_SIMPLE) < 0)
        return -1;
    if (PyObject_GetBuffer(spans, &r->spans, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&r->view);
        return -1;
    }
    r->sp = (const long long *)r->spans.buf;
    r->pairs = r->spans.len / (Py_ssize_t)(2 * sizeof(long long));
    for (Py_ssize_t i = 0; i < 2 * r->pairs; i += 2)
        if (r->sp[i] < 0 || r->sp[i] > r->sp[i + 1] || r->sp[i + 1] > r->view.len) {
            PyBuffer_Release(&r->spans);
            PyBuffer_Release(&r->view);
            PyErr_SetString(PyExc_ValueError, "span outside the buffer");
            return -1;
        }
    return 0;
}

static void
release_regions(regions_t *r)
{
    PyBuffer_Release(&r->spans);
    PyBuffer_Release(&r->view);
}

/* field_lines(buf, spans, kind, value, prefix, out, unsure, name=b"") -> int
 * (name: NAME of field.NAME, kind 3) */
PyObject *
lc_field_lines(PyObject *self, PyObject *args)
{
    PyObject *buf, *spans_obj, *out, *unsure_obj;
    int kind, prefix;
    Py_buffer want;
    const char *name = "";
    Py_ssize_t name_len = 0;
    if (!PyArg_ParseTuple(args, "OOiy*pOO|y#", &buf, &spans_obj, &kind, &want, &prefix, &out,
                          &unsure_obj, &name, &name_len))
        return NULL;
    fname_t fname;
    fname_init(&fname, (cp)name, (size_t)name_len);
    regions_t r;
    if (kind < K_HOST || kind > K_FIELD) {
        PyBuffer_Release(&want);
        PyErr_SetString(PyExc_ValueError, "unknown field kind");
        return NULL;
    }
    if (get_regions(buf, spans_obj, &r) < 0) {
        PyBuffer_Release(&want);
        return NULL;
    }
    Py_ssize_t *kept = NULL, nkept = 0, capk = 0, *unsure = NULL, nunsure = 0, capu = 0,
               count = 0;
    int nomem = 0;
    scratch_t sc = {NULL, 0};
    cp w = (cp)want.buf;
    size_t wn = (size_t)want.len;
    Py_BEGIN_ALLOW_THREADS
    cp base = (cp)r.view.buf;
    for (Py_ssize_t i = 0; i < r.pairs && !nomem; i++) {
        cp p = base + r.sp[2 * i], e = base + r.sp[2 * i + 1];
        while (p < e) {
            cp nl = memchr(p, '\n', (size_t)(e - p));
            cp cut = nl ? nl : e, le = nl ? nl + 1 : e;
            val_t v;
            size_t len = (size_t)(cut - p);
            int res;
            if (kind != K_FACILITY && wn && len && p[0] != '<' && !memchr(p, '\\', len) &&
                !memmem(p, len, w, wn))
                res = V_ABSENT; /* no escapes: a JSON or logfmt value is in the text as is */
            else
                res = line_value(kind, &fname, p, len, &sc, &v);
            if (res == V_FOUND) {
                if (v.n == wn || (prefix && v.n > wn)) {
                    if (memcmp(v.s, w, wn) == 0) {
                        if (v.n > wn && (v.s[wn] & 0xC0) == 0x80)
                            res = V_UNSURE; /* the prefix ends inside a character */
                        else if (lc_add_span(&kept, &nkept, &capk, p - base, le - base) < 0)
                            nomem = 1;
                        else
                            count++;
                    }
                }
            }
            if (res == V_UNSURE && lc_add_span(&unsure, &nunsure, &capu, p - base, le - base) < 0)
                nomem = 1;
            p = le;
        }
    }
    Py_END_ALLOW_THREADS
    free(sc.buf);
    release_regions(&r);
    PyBuffer_Release(&want);
    if (nomem) {
        free(kept);
        free(unsure);
        return PyErr_NoMemory();
    }
    if (lc_flush_spans(out, kept, nkept) < 0) {
        free(unsure);
        return NULL;
    }
    if (lc_flush_spans(unsure_obj, unsure, nunsure) < 0)
        return NULL;
    return PyLong_FromSsize_t(count);
}

/* A count per distinct value: open addressing over copies of the values. */
typedef struct {
    size_t hash, n;
    unsigned char *s; /* NULL: a free slot */
    Py_ssize_t count;
} entry_t;

typedef struct {
    entry_t *slots;
    size_t cap, used;
} table_t;

static inline size_t
hash_of(cp s, size_t n)
{
    size_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static int
table_add(table_t *t, cp s, size_t n)
{
    if ((t->used + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        entry_t *slots = calloc(cap, sizeof(entry_t));
        if (slots == NULL)
            return -1;
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].s != NULL) {
                size_t j = t->slots[i].hash & (cap - 1);
                while (slots[j].s != NULL)
                    j = (j + 1) & (cap - 1);
                slots[j] = t->slots[i];
            }
        free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    size_t h = hash_of(s, n), j = h & (t->cap - 1);
    while (t->slots[j].s != NULL) {
        entry_t *e = &t->slots[j];
        if (e->hash == h && e->n == n && memcmp(e->s, s, n) == 0) {
            e->count++;
            return 0;
        }
        j = (j + 1) & (t->cap - 1);
    }
    unsigned char *copy = malloc(n ? n : 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, s, n);
    t->slots[j] = (entry_t){h, n, copy, 1};
    t->used++;
    return 0;
}

static void
table_free(table_t *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].s);
    free(t->slots);
}

/* field_values(buf, spans, kind, unsure, name=b"") -> {value (bytes) or None: count} */
PyObject *
lc_field_values(PyObject *self, PyObject *args)
{
    PyObject *buf, *spans_obj, *unsure_obj;
    int kind;
    const char *name = "";
    Py_ssize_t name_len = 0;
    if (!PyArg_ParseTuple(args, "OOiO|y#", &buf, &spans_obj, &kind, &unsure_obj, &name,
                          &name_len))
        return NULL;
    fname_t fname;
    fname_init(&fname, (cp)name, (size_t)name_len);
    if (kind < K_HOST || kind > K_FIELD) {
        PyErr_SetString(PyExc_ValueError, "unknown field kind");
        return NULL;
    }
    regions_t r;
    if (get_regions(buf, spans_obj, &r) < 0)
        return NULL;
    table_t t = {NULL, 0, 0};
    Py_ssize_t *unsure = NULL, nunsure = 0, capu = 0, none = 0;
    int nomem = 0;
    scratch_t sc = {NULL, 0};
    Py_BEGIN_ALLOW_THREADS
    cp base = (cp)r.view.buf;
    for (Py_ssize_t i = 0; i < r.pairs && !nomem; i++) {
        cp p = base + r.sp[2 * i], e = base + r.sp[2 * i + 1];
        while (p < e) {
            cp nl = memchr(p, '\n', (size_t)(e - p));
            cp cut = nl ? nl : e, le = nl ? nl + 1 : e;
            val_t v;
            int res = line_value(kind, &fname, p, (size_t)(cut - p), &sc, &v);
            if (res == V_FOUND) {
                if (table_add(&t, v.s, v.n) < 0)
                    nomem = 1;
            } else if (res == V_ABSENT) {
                none++;
            } else if (lc_add_span(&unsure, &nunsure, &capu, p - base, le - base) < 0) {
                nomem = 1;
            }
            p = le;
        }
    }
    Py_END_ALLOW_THREADS
    free(sc.buf);
    release_regions(&r);
    PyObject *result = NULL;
    if (nomem) {
        PyErr_NoMemory();
        goto done;
    }
    if (lc_flush_spans(unsure_obj, unsure, nunsure) < 0) {
        unsure = NULL;
        goto done;
    }
    unsure = NULL;
    if ((result = PyDict_New()) == NULL)
        goto done;
    for (size_t i = 0; i < t.cap; i++) {
        entry_t *e = &t.slots[i];
        if (e->s == NULL)
            continue;
        PyObject *key = PyBytes_FromStringAndSize((const char *)e->s, (Py_ssize_t)e->n);
        PyObject *n = PyLong_FromSsize_t(e->count);
        if (key == NULL || n == NULL || PyDict_SetItem(result, key, n) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(n);
            Py_CLEAR(result);
            goto done;
        }
        Py_DECREF(key);
        Py_DECREF(n);
    }
    if (none) {
        PyObject *n = PyLong_FromSsize_t(none);
        if (n == NULL || PyDict_SetItem(result, Py_None, n) < 0)
            Py_CLEAR(result);
        Py_XDECREF(n);
    }
done:
    free(unsure);
    table_free(&t);
    return result;
}

/* ------------------------------------------------------------ levels */

/* syslog severity (a GELF level 0-7) -> level code (logcaster.query.levels.LEVEL_CODES) */
static const int SEVERITY_CODES[8] = {10, 9, 7, 6, 5, 4, 3, 2};
/* pino's and bunyan's levels by tens (10 trace ... 60 fatal) -> level code */
static const int PINO_CODES[6] = {1, 2, 3, 5, 6, 8};

/* The level code of a JSON integer v[0:len] as a "level" (fields.structured_level):
 * 0-7 a syslog severity, 10-69 pino's by tens; -1 for any other. */
static inline int
numeric_level(cp v, size_t len)
{
    if (len == 2 && v[0] == '-' && v[1] == '0')
        return SEVERITY_CODES[0];
    if (len == 1 && v[0] >= '0' && v[0] <= '7')
        return SEVERITY_CODES[v[0] - '0'];
    if (len == 2 && v[0] >= '1' && v[0] <= '6' && is_digit(v[1]))
        return PINO_CODES[v[0] - '1'];
    return -1;
}

static inline int
is_level_key(cp at)
{
    return memcmp(at, "\"level\"", 7) == 0;
}

#if defined(__x86_64__)
/* level_key() of a line of 38 bytes or more. */
__attribute__((target("avx2"))) static cp
level_key_avx2(cp k, cp e)
{
    const __m256i quote = _mm256_set1_epi8('"'), v = _mm256_set1_epi8('v');
    for (;;) {
        cp at = e - k < 38 ? e - 38 : k; /* the last places: the block ending at e */
        __m256i a = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)at), quote);
        __m256i b = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(at + 3)), v);
        __m256i c = _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(at + 6)), quote);
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_and_si256(_mm256_and_si256(a, b), c));
        for (m &= ~0u << (k - at); m; m &= m - 1) /* not the places before k again */
            if (is_level_key(at + __builtin_ctz(m)))
                return at + __builtin_ctz(m);
        if (at != k || e - (k += 32) < 7)
            return NULL;
    }
}
#endif

/* The first `"level"` in [k, e), or NULL. Its places are found a block at a time by
 * three of its bytes at once, the quotes and the 'v' between them: in a JSON line
 * every other byte may be a quote, and a literal search led by the quotes stopped
 * at each (~700 instructions a line against ~100). The last places are one block
 * that ends where the line does. */
static inline cp
level_key(cp k, cp e)
{
#if defined(__x86_64__)
    if (lc_has_avx2 && e - k >= 38)
        return level_key_avx2(k, e);
#endif
    for (; e - k >= 7; k++)
        if (*k == '"' && is_level_key(k))
            return k;
    return NULL;
}

/* fields.structured_level: the level code of a JSON line whose `level` is a whole
 * number 0-7; -1 for any other line, -2 when left to Python (a float). */
static int
structured_code(cp s, size_t n, scratch_t *sc)
{
    size_t a = 0, b = n;
    while (a < b && py_space(s[a]))
        a++;
    while (b > a && py_space(s[b - 1]))
        b--;
    if (b - a < 9 || s[a] != '{' || s[b - 1] != '}')
        return -1;
    /* Without escapes, a key "level" with a number is `"level"`, `:` and a digit or
     * '-' (JSON whitespace between): without one, no parse is needed. */
    int numeric = 0, escapes = memchr(s + a, '\\', b - a) != NULL;
    for (cp k = s + a; !numeric && (k = level_key(k, s + b)) != NULL;) {
        k += 7;
        cp t = k;
        while (t < s + b && (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r'))
            t++;
        if (t < s + b && *t == ':') {
            t++;
            while (t < s + b && (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r'))
                t++;
            numeric = t < s + b && (is_digit(*t) || *t == '-');
        }
    }
    if (!numeric && (!escapes || level_key(s, s + n) == NULL))
        return -1;
    jkey_t key = {"level", 5, 0, NULL, NULL, 0};
    int js = json_top(s, n, &key, 1, sc);
    if (js == J_NOTSURE)
        return -2;
    if (js != J_OK)
        return -1;
    if (key.type == J_FLOAT)
        return -2;
    if (key.type != J_INT)
        return -1;
    return numeric_level(key.vs, (size_t)(key.ve - key.vs));
}

/* level_lines(buf, spans, levels, out, unsure) -> int
 * Appends to `out` the spans of the lines of `spans` whose level code has its bit
 * set in the mask `levels`: a JSON line's numeric `level` (0-7, as syslog
 * severities) when it has one, else its token level (_filters.c); lines left to
 * Python go to `unsure`. Only the lines that may have a wanted level are read
 * (_levelscan.c: a word of a wanted level, a PRI, a numeric JSON "level"); the
 * others are skipped by one SIMD pass. */
PyObject *
lc_level_lines(PyObject *self, PyObject *args)
{
    PyObject *buf, *spans_obj, *out, *unsure_obj;
    unsigned long mask;
    if (!PyArg_ParseTuple(args, "OOkOO", &buf, &spans_obj, &mask, &out, &unsure_obj))
        return NULL;
    regions_t r;
    if (get_regions(buf, spans_obj, &r) < 0)
        return NULL;
    Py_ssize_t *kept = NULL, nkept = 0, capk = 0, *unsure = NULL, nunsure = 0, capu = 0,
               count = 0;
    int nomem = 0;
    scratch_t sc = {NULL, 0};
    lc_levelscan scan;
    int skip = lc_levelscan_init(&scan, mask) == 0;
    size_t passed = 0, full = 0; /* bytes gone by, and of them in lines read */
    Py_ssize_t lines_read = 0;
    Py_BEGIN_ALLOW_THREADS
    cp base = (cp)r.view.buf;
    for (Py_ssize_t i = 0; i < r.pairs && !nomem; i++) {
        cp p = base + r.sp[2 * i], e = base + r.sp[2 * i + 1], rs = p;
        while (p < e) {
            if (skip && ++lines_read % 1024 == 0 && full * 2 > passed + (size_t)(p - rs))
                skip = 0; /* most lines are read anyway (INFO): the search only adds to it */
            if (skip && (p = lc_levelscan_next(&scan, p, e)) == NULL)
                break;
            cp nl = memchr(p, '\n', (size_t)(e - p));
            cp cut = nl ? nl : e, le = nl ? nl + 1 : e;
            size_t n = (size_t)(cut - p);
            full += (size_t)(le - p);
            int code = structured_code(p, n, &sc);
            if (code == -1)
                code = lc_level_code(p, n);
            if (code == -2) {
                if (lc_add_span(&unsure, &nunsure, &capu, p - base, le - base) < 0)
                    nomem = 1;
            } else if (mask & (1UL << code)) {
                if (lc_add_span(&kept, &nkept, &capk, p - base, le - base) < 0)
                    nomem = 1;
                count++;
            }
            p = le;
        }
        passed += (size_t)(e - rs);
    }
    Py_END_ALLOW_THREADS
    free(sc.buf);
    release_regions(&r);
    if (nomem) {
        free(kept);
        free(unsure);
        return PyErr_NoMemory();
    }
    if (lc_flush_spans(out, kept, nkept) < 0) {
        free(unsure);
        return NULL;
    }
    if (lc_flush_spans(unsure_obj, unsure, nunsure) < 0)
        return NULL;
    return PyLong_FromSsize_t(count);
}

/* ------------------------------------------------------------ record fields */

/* lc_piece_read() and lc_piece_write(): the parsed fields of a line as the piece of
 * its HTTP API record that follows "level", which _ndjson.c's encode_records writes
 * in the same pass as the rest of the record (logcaster.records.py_fields_piece is
 * the reference):
 *
 *     ,"host":"..","app":"..","facility":"..","fields":{"NAME":"VALUE",...}
 *
 * host, app and facility as the filters read them (line_value), each only when
 * present; "fields": every field.NAME of the line (fields.fields_of, in its order)
 * but host, app and facility when the top-level key holds the same value; omitted
 * when empty. Text is JSON-escaped as the records' line is (lc_json_escape). Left to
 * Python (unsure): what line_value leaves, RFC 5424 SD params, and in a JSON object
 * a float, an array, NaN/Infinity, a duplicate key, a key holding a '.', a lone
 * surrogate, more than MAX_RFIELDS fields. */

#define MAX_RFIELDS 256

/* Byte classes of the record pieces' scans: a logfmt key character
 * ([\w.\-/@]), a byte ending an unquoted logfmt value (\s or '"'), a byte a
 * JSON string writes other than as itself (control, '"', '\\', >= 0x80). */
enum { C_KEY = 1, C_STOP = 2, C_ESC = 4 };
static const unsigned char CLASS[256] = {
    [0 ... 0x1F] = C_ESC,
    ['\t' ... '\r'] = C_STOP | C_ESC,
    [' '] = C_STOP,
    ['"'] = C_STOP | C_ESC,
    ['\\'] = C_ESC,
    ['0' ... '9'] = C_KEY,
    ['A' ... 'Z'] = C_KEY,
    ['a' ... 'z'] = C_KEY,
    ['_'] = C_KEY,
    ['.'] = C_KEY,
    ['-'] = C_KEY,
    ['/'] = C_KEY,
    ['@'] = C_KEY,
    [0x80 ... 0xFF] = C_ESC,
};

static const char *const TOP_NAMES[3] = {"host", "app", "facility"};

typedef struct {
    unsigned char *b;
    size_t n, cap;
} growbuf_t;

static int
gb_reserve(growbuf_t *g, size_t k)
{
    if (g->n + k <= g->cap)
        return 0;
    size_t cap = g->cap ? g->cap : 4096;
    while (cap < g->n + k)
        cap *= 2;
    unsigned char *b = realloc(g->b, cap);
    if (b == NULL)
        return -1;
    g->b = b;
    g->cap = cap;
    return 0;
}

/* Append s[0:k]; its offset, or -1 when out of memory. */
static long
gb_put(growbuf_t *g, const void *s, size_t k)
{
    if (gb_reserve(g, k) < 0)
        return -1;
    size_t at = g->n;
    if (k)
        memcpy(g->b + at, s, k);
    g->n += k;
    return (long)at;
}

typedef struct {
    cp kp, vp;             /* name and value in the line, or NULL: ... */
    size_t ko, kn, vo, vn; /* ... at these offsets into the arena */
    int leaf;              /* 0: a JSON object's own name (only checked for duplicates) */
    int plain;             /* name and value known to need no escaping */
} rfield_t;

#define FKEY(L, f) ((f)->kp ? (f)->kp : (L)->a.b + (f)->ko)
#define FVAL(L, f) ((f)->vp ? (f)->vp : (L)->a.b + (f)->vo)

/* A plain logfmt line's pair: name at s[k0:k0 + kn], value at s[v:v + vn]. */
#define FAST_PAIRS 32
#define FAST_SYSLOG 2 /* rline.fast: a syslog line's piece (1: fast_pairs' or fast_json's) */
typedef struct {
    unsigned short k0, kn, v, vn; /* lines of MASK_BLOCKS * 64 bytes at most */
} fast_pair;

struct lc_rline {
    growbuf_t a; /* names and values of the current line */
    int nf;
    int has_top[3];
    size_t top_o[3], top_n[3];
    int quoted_eq; /* a logfmt quoted value holds a '=' (maybe a `host=` that
                    * logfmt_value reads) */
    int all_plain; /* no name or value of the line needs escaping */
    cp lo, hi;     /* readable bytes holding the lines (lc_piece_bounds) */
    cp readable;   /* their end, readable from each line on (lc_piece_readable) */
    /* a plain logfmt line's pairs (fast_pairs), written by fast_write when `fast` */
    int fast, nfp;
    int jlevel; /* lc_piece_level's answer: a JSON line's numeric level, as fast_json read it */
    int fhost, fapp;        /* the pairs giving the record's host and app, or -1 */
    unsigned long long fskip; /* the pairs not repeated in "fields" (bits) */
    cp fs;
    size_t fverbatim; /* a compact JSON line's length when its "fields" object is the
                       * line itself (fast_json), else 0 */
    /* a syslog line's header (syslog_header, read once per line by lc_piece_read),
     * written by syslog_write when `fast` is FAST_SYSLOG */
    int spri, squoted; /* squoted: the MSG holds '"' (the line's only bytes to escape) */
    size_t sn;         /* the line's length */
    syslog_head sh;
    scratch_t sc;
    /* the tables, last: read only up to nf and nfp, so left as they are when a
     * reader is made (no 16 KiB to zero per encode_records call) */
    rfield_t f[MAX_RFIELDS];
    fast_pair fp[FAST_PAIRS];
};
typedef struct lc_rline rline_t;

enum { RF_OK = LC_PIECE_OK, RF_UNSURE = LC_PIECE_UNSURE, RF_NOMEM = LC_PIECE_NOMEM };

/* rf_find() of a leaf by a literal name: inlined, a compare of constant size. */
#define RF_FIND_NAME(L, from, name) rf_find(L, from, (cp)(name), sizeof(name) - 1, 1)

static inline int
rf_find(const rline_t *L, int from, const unsigned char *k, size_t kn, int leaves_only)
{
    for (int i = from; i < L->nf; i++)
        if (L->f[i].kn == kn && (!leaves_only || L->f[i].leaf) &&
            memcmp(FKEY(L, &L->f[i]), k, kn) == 0)
            return i;
    return -1;
}

/* Add a field: its name in the line (kp) or in the arena at ko (kn bytes); its
 * value v, copied to the arena unless it is in the line (`stable`). */
static int
rf_push(rline_t *L, cp kp, size_t ko, size_t kn, cp v, size_t vn, int stable, int leaf)
{
    if (L->nf >= MAX_RFIELDS)
        return RF_UNSURE;
    rfield_t *f = &L->f[L->nf];
    f->kp = kp;
    f->ko = ko;
    f->kn = kn;
    f->vn = vn;
    f->leaf = leaf;
    f->plain = 0;
    if (stable) {
        f->vp = v;
    } else {
        long vo = gb_put(&L->a, v, vn);
        if (vo < 0)
            return RF_NOMEM;
        f->vp = NULL;
        f->vo = (size_t)vo;
    }
    L->nf++;
    return RF_OK;
}

/* A header field: a constant name, a value in the line (or a constant). */
static int
rf_add(rline_t *L, const char *k, size_t kn, cp v, size_t vn)
{
    return rf_push(L, (cp)k, 0, kn, v, vn, 1, 1);
}

static int
rf_adds(rline_t *L, const char *k, const char *v)
{
    return rf_add(L, k, strlen(k), (cp)v, strlen(v));
}

/* Whether a body field named k is dropped: the header's own host/app/facility
 * (`keep`), or a name fields_of already has (setdefault). */
static int
body_skips(const rline_t *L, int nheader, int keep, const unsigned char *k, size_t kn)
{
    if (keep)
        for (int i = 0; i < 3; i++)
            if (strlen(TOP_NAMES[i]) == kn && memcmp(TOP_NAMES[i], k, kn) == 0)
                return 1;
    for (int i = 0; i < nheader; i++)
        if (L->f[i].kn == kn && memcmp(FKEY(L, &L->f[i]), k, kn) == 0)
            return 1;
    return 0;
}

/* fields._flatten of the object at j->p (valid JSON, checked by json_top), names
 * prefixed by the arena's [po, po + pn). */
static int
flat_object(rline_t *L, jscan_t *j, size_t po, size_t pn, int nheader, int keep, int body)
{
    j->p++;
    j_ws(j);
    if (j->p < j->e && *j->p == '}') {
        j->p++;
        return RF_OK;
    }
    for (;;) {
        cp ks = j->p + 1;
        int kesc, vesc = 0, r;
        if (j_string(j, &kesc) < 0)
            return RF_UNSURE;
        cp ke = j->p - 1;
        j_ws(j);
        j->p++; /* ':' */
        j_ws(j);
        /* the name: a top-level key without escapes whose value is no object is
         * the line's text (kp); any other is prefix + key, in the arena at ko */
        cp kp = NULL;
        size_t ko = 0, name_n;
        if (pn == 0 && !kesc && *j->p != '{') {
            kp = ks;
            name_n = (size_t)(ke - ks);
            if (memchr(ks, '.', name_n) != NULL)
                return RF_UNSURE; /* a dotted key may clash with a path */
        } else {
            if (gb_reserve(&L->a, pn + (size_t)(ke - ks)) < 0)
                return RF_NOMEM;
            ko = L->a.n;
            memmove(L->a.b + ko, L->a.b + po, pn);
            long kn = (long)(ke - ks);
            if (kesc)
                kn = j_unescape(ks, ke, L->a.b + ko + pn);
            else
                memcpy(L->a.b + ko + pn, ks, (size_t)kn);
            if (kn < 0 || memchr(L->a.b + ko + pn, '.', (size_t)kn) != NULL)
                return RF_UNSURE; /* a lone surrogate; a dotted key may clash with a path */
            name_n = pn + (size_t)kn;
            L->a.n += name_n;
        }
        if (rf_find(L, body, kp ? kp : L->a.b + ko, name_n, 0) >= 0)
            return RF_UNSURE; /* a duplicate key: json.loads keeps the last */
        cp vs = j->p;
        int type;
        if (*j->p == '"') {
            j_string(j, &vesc);
            type = J_STR;
        } else if (*j->p == '{') {
            type = J_OBJ;
        } else if (j_value(j, 0, &type) < 0)
            return RF_UNSURE;
        cp ve = j->p;
        int skip = pn == 0 && body_skips(L, nheader, keep, kp ? kp : L->a.b + ko, name_n);
        switch (type) {
        case J_OBJ: {
            if (L->nf >= MAX_RFIELDS)
                return RF_UNSURE;
            L->f[L->nf++] = (rfield_t){NULL, NULL, ko, name_n, 0, 0, 0, 0};
            if (gb_put(&L->a, ".", 1) < 0)
                return RF_NOMEM;
            r = flat_object(L, j, ko, name_n + 1, nheader, keep, body);
            if (r != RF_OK)
                return r;
            break;
        }
        case J_STR: {
            size_t vn = (size_t)(ve - vs) - 2;
            if (vesc) {
                unsigned char *b = scratch(&L->sc, vn + 1);
                if (b == NULL)
                    return RF_NOMEM;
                long m = j_unescape(vs + 1, ve - 1, b);
                if (m < 0)
                    return RF_UNSURE;
                r = rf_push(L, kp, ko, name_n, b, (size_t)m, 0, !skip);
            } else
                r = rf_push(L, kp, ko, name_n, vs + 1, vn, 1, !skip);
            if (r != RF_OK)
                return r;
            break;
        }
        case J_INT:
            if (ve - vs == 2 && vs[0] == '-' && vs[1] == '0')
                vs++;
            /* fall through */
        case J_TRUE:
        case J_FALSE:
        case J_NULL:
            r = rf_push(L, kp, ko, name_n, vs, (size_t)(ve - vs), 1, !skip);
            if (r != RF_OK)
                return r;
            break;
        default: /* a float, an array, NaN, Infinity: json.dumps' text, left to Python */
            return RF_UNSURE;
        }
        /* a skipped leaf is kept as a non-leaf, for the duplicate check only */
        j_ws(j);
        if (j->p >= j->e)
            return RF_UNSURE;
        if (*j->p == '}') {
            j->p++;
            return RF_OK;
        }
        j->p++; /* ',' */
        j_ws(j);
    }
}

/* The '=' bytes of s[base:base+16] (those before n) as bits. */
static inline unsigned
eq_bits(cp s, size_t n, size_t base)
{
#if defined(__SSE2__)
    if (n >= 16) {
        size_t at = base + 16 <= n ? base : n - 16; /* the last 16: the first base - at dropped */
        __m128i v = _mm_loadu_si128((const __m128i *)(s + at));
        return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('='))) >> (base - at);
    }
#endif
    unsigned m = 0;
    for (size_t i = base; i < n && i < base + 16; i++)
        m |= (unsigned)(s[i] == '=') << (i - base);
    return m;
}

#if defined(__SSE2__)
/* The bytes lo..hi of v as a byte mask (an unsigned compare by a signed one). */
static inline __m128i
byte_range(__m128i v, unsigned char lo, unsigned char hi)
{
    return _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8((char)(0x80 - lo))),
                          _mm_set1_epi8((char)(-128 + (hi - lo + 1))));
}

/* The logfmt key bytes ([\w.\-/@]: '-'..'9', '@'..'Z', '_', 'a'..'z') of the 16 at s,
 * as bits. */
static inline unsigned
key_bits(cp s)
{
    __m128i v = _mm_loadu_si128((const __m128i *)s);
    __m128i k = _mm_or_si128(_mm_or_si128(byte_range(v, '-', '9'), byte_range(v, '@', 'Z')),
                             _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('_')),
                                          byte_range(v, 'a', 'z')));
    return (unsigned)_mm_movemask_epi8(k);
}
#endif

/* Where the run of key bytes before s[k] starts, but not before p: from the 16
 * bytes before k at once (the last non-key bit), not byte by byte backwards (a
 * mispredicted loop exit per key). */
static inline size_t
key_begin(cp s, size_t n, size_t k, size_t p)
{
    size_t k0 = k;
#if defined(__SSE2__)
    if (k >= 16) {
        unsigned non = ~key_bits(s + k - 16) & 0xFFFFu;
        if (non) {
            k0 = k - 16 + (size_t)(32 - __builtin_clz(non));
            return k0 > p ? k0 : p;
        }
    } else if (n >= 16) {
        unsigned non = ~key_bits(s) & ((1u << k) - 1);
        k0 = non ? (size_t)(32 - __builtin_clz(non)) : 0;
        return k0 > p ? k0 : p;
    }
#endif
    while (k0 > p && (CLASS[s[k0 - 1]] & C_KEY))
        k0--;
    return k0;
}

/* The end of the unquoted logfmt value at s[v:n] ([^\s"]*), *plain when none of its
 * bytes needs JSON escaping: 16 bytes at a time to the first byte that may end it or
 * need escaping (whitespace, control, '"', '\\', >= 0x80). */
static inline size_t
value_end(cp s, size_t n, size_t v, int *plain)
{
    size_t i = v;
#if defined(__SSE2__)
    const __m128i lim = _mm_set1_epi8(0x21), quote = _mm_set1_epi8('"'),
                  bslash = _mm_set1_epi8('\\');
    while (n >= 16) {
        size_t at = i + 16 <= n ? i : n - 16; /* the last 16: the first i - at dropped */
        __m128i x = _mm_loadu_si128((const __m128i *)(s + at));
        /* signed: bytes <= 0x20 and >= 0x80 both compare below 0x21 */
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(
            _mm_cmplt_epi8(x, lim), _mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                 _mm_cmpeq_epi8(x, bslash)))) >> (i - at);
        if (m) {
            i += (size_t)__builtin_ctz(m);
            if (CLASS[s[i]] & C_STOP) {
                *plain = 1;
                return i;
            }
            break; /* a byte to escape: the rest byte by byte */
        }
        if (at + 16 >= n) {
            *plain = 1;
            return n;
        }
        i += 16;
    }
#endif
    unsigned char seen = 0;
    while (i < n && !(CLASS[s[i]] & C_STOP))
        seen |= CLASS[s[i++]];
    *plain = !(seen & C_ESC); /* the bytes before i need no escaping */
    return i;
}

/* A line's logfmt pairs found in bit masks, one bit per byte, of whole 64-byte
 * blocks (lines of up to MASK_BLOCKS blocks whose blocks are readable): its '='
 * bytes, its key bytes and the bytes value_end() stops at. Each pair's key start
 * and value end are then a bit scan of a word each, not a 16-byte step or a loop
 * per pair: fewer branches whose outcome changes from line to line. Used for the
 * lines of fast_pairs(); the general reader (body_fields) was no faster with them. */
#define MASK_BLOCKS 4
typedef struct {
    unsigned long long eq[MASK_BLOCKS], key[MASK_BLOCKS], stop[MASK_BLOCKS];
} pair_masks;

#if defined(__SSE2__)
/* The stop bytes of value_end() (whitespace, control, '"', '\\', >= 0x80) of v. */
static inline unsigned
stop_bits(__m128i v)
{
    /* signed: bytes <= 0x20 and >= 0x80 both compare below 0x21 */
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(
        _mm_cmplt_epi8(v, _mm_set1_epi8(0x21)),
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));
}

static void
pair_masks_sse2(cp s, size_t blocks, pair_masks *m)
{
    for (size_t b = 0; b < blocks; b++) {
        unsigned long long eq = 0, key = 0, stop = 0;
        for (int q = 0; q < 4; q++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + 64 * b + 16 * q));
            eq |= (unsigned long long)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')))
                  << (16 * q);
            key |= (unsigned long long)key_bits(s + 64 * b + 16 * q) << (16 * q);
            stop |= (unsigned long long)stop_bits(v) << (16 * q);
        }
        m->eq[b] = eq;
        m->key[b] = key;
        m->stop[b] = stop;
    }
}
#endif

#if defined(__x86_64__)
/* The bytes lo..hi of v as a byte mask (an unsigned compare by a signed one). */
__attribute__((target("avx2"))) static inline __m256i
byte_range256(__m256i v, unsigned char lo, unsigned char hi)
{
    return _mm256_cmpgt_epi8(_mm256_set1_epi8((char)(-128 + (hi - lo + 1))),
                             _mm256_add_epi8(v, _mm256_set1_epi8((char)(0x80 - lo))));
}

__attribute__((target("avx2"))) static void
pair_masks_avx2(cp s, size_t blocks, pair_masks *m)
{
    for (size_t b = 0; b < blocks; b++) {
        unsigned long long eq = 0, key = 0, stop = 0;
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(s + 64 * b + 32 * h));
            __m256i k = _mm256_or_si256(
                _mm256_or_si256(byte_range256(v, '-', '9'), byte_range256(v, '@', 'Z')),
                _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('_')),
                                byte_range256(v, 'a', 'z')));
            __m256i st = _mm256_or_si256(
                _mm256_cmpgt_epi8(_mm256_set1_epi8(0x21), v),
                _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')),
                                _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))));
            eq |= (unsigned long long)(unsigned)_mm256_movemask_epi8(
                      _mm256_cmpeq_epi8(v, _mm256_set1_epi8('=')))
                  << (32 * h);
            key |= (unsigned long long)(unsigned)_mm256_movemask_epi8(k) << (32 * h);
            stop |= (unsigned long long)(unsigned)_mm256_movemask_epi8(st) << (32 * h);
        }
        m->eq[b] = eq;
        m->key[b] = key;
        m->stop[b] = stop;
    }
}
#endif

/* The masks of s[0:n] when its blocks are readable up to `readable`: 1, else 0. No
 * '=' past n (the other masks' bits past n are never read: a value ends at n). */
static inline int
pair_masks_of(cp s, size_t n, cp readable, pair_masks *m)
{
#if defined(__SSE2__)
    size_t blocks = (n + 63) / 64;
    if (n == 0 || blocks > MASK_BLOCKS || readable == NULL || s > readable ||
        (size_t)(readable - s) < 64 * blocks)
        return 0;
#if defined(__x86_64__)
    if (lc_has_avx2)
        pair_masks_avx2(s, blocks, m);
    else
#endif
        pair_masks_sse2(s, blocks, m);
    if (n & 63)
        m->eq[blocks - 1] &= ~(~0ULL << (n & 63));
    return 1;
#else
    (void)s, (void)n, (void)readable, (void)m;
    return 0;
#endif
}

/* key_begin() from the masks. */
static inline size_t
masked_key_begin(const pair_masks *m, size_t k, size_t p)
{
    size_t w = k >> 6;
    unsigned long long non = ~m->key[w] & ((1ULL << (k & 63)) - 1);
    while (!non && w > 0 && 64 * w > p)
        non = ~m->key[--w];
    size_t k0 = non ? 64 * w + 64 - (size_t)__builtin_clzll(non) : 64 * w;
    return k0 > p ? k0 : p;
}

/* value_end() from the masks, for a line with no byte to escape (its stop bytes
 * are spaces): the next stop at or after v, or n. */
static inline size_t
masked_value_end(const pair_masks *m, size_t n, size_t v)
{
    size_t w = v >> 6, blocks = (n + 63) / 64;
    unsigned long long x = v < n ? m->stop[w] & (~0ULL << (v & 63)) : 0;
    while (!x && v < n && ++w < blocks)
        x = m->stop[w];
    size_t i = x ? 64 * w + (size_t)__builtin_ctzll(x) : n;
    return i < n ? i : n;
}

/* fields._text_fields of a message body s[0:n]: a JSON object's fields, else logfmt
 * pairs, after the header's (the first nheader fields; `keep`: a syslog line's). */
static int
body_fields(rline_t *L, cp s, size_t n, int nheader, int keep, int js)
{
    if (js < 0) /* not known yet */
        js = json_top(s, n, NULL, 0, &L->sc);
    if (js == J_NOTSURE)
        return RF_UNSURE;
    int body = L->nf;
    if (js == J_OK) {
        while (py_space(s[0])) {
            s++;
            n--;
        }
        jscan_t j = {s, s + n, 0};
        int r = flat_object(L, &j, 0, 0, nheader, keep, body);
        if (r != RF_OK || j.notsure)
            return r != RF_OK ? r : RF_UNSURE;
        /* GELF's short_message is also msg */
        int sm = rf_find(L, body, (cp) "short_message", 13, 1);
        if (sm >= 0 && rf_find(L, body, (cp) "msg", 3, 1) < 0 &&
            !body_skips(L, nheader, keep, (cp) "msg", 3)) {
            rfield_t f = L->f[sm];
            if (L->nf >= MAX_RFIELDS)
                return RF_UNSURE;
            L->f[L->nf++] = (rfield_t){(cp) "msg", f.vp, 0, 3, f.vo, f.vn, 1, f.plain};
        }
        return RF_OK;
    }
    /* logfmt: fields._LOGFMT's matches in order (finditer), the first of each key
     * kept. A match is a '=' after a run of key characters that starts a word (at
     * the start or after whitespace) with a letter or '_', past the last match. The
     * '=' bytes are walked as the bits of 16 bytes at a time: where each key starts
     * does not wait for the end of the value before it (only the test k < p does). */
    size_t p = 0;
    unsigned long long seen = 0;
    for (size_t base = 0; base < n; base += 16)
        for (unsigned eqs = eq_bits(s, n, base); eqs; eqs &= eqs - 1) {
            size_t k = base + (size_t)__builtin_ctz(eqs);
            if (k < p)
                continue;
            size_t k0 = key_begin(s, n, k, p);
            if (k0 == k || !key_start(s[k0]) || (k0 > 0 && !py_space(s[k0 - 1])))
                continue;
            size_t end, vpos = k + 1;
            int plain = 0;
            int q_eq = 0, q_bs = 0;
            if (vpos < n && s[vpos] == '"') {
                end = quoted_scan(s, n, vpos, &q_eq, &q_bs);
                if (end > vpos && q_eq)
                    L->quoted_eq = 1;
            } else
                end = value_end(s, n, vpos, &plain);
            /* the first of each key: a key is looked for among the earlier ones only
             * when one of the same length and first byte came before (seen: a 64-bit
             * filter) */
            unsigned long long bit = 1ULL << ((s[k0] + (k - k0) * 8) & 63);
            int first = !(seen & bit) || rf_find(L, body, s + k0, k - k0, 0) < 0;
            seen |= bit;
            if (first) {
                int skip = keep && body_skips(L, nheader, keep, s + k0, k - k0), r;
                if (end > vpos && s[vpos] == '"') {
                    if (!q_bs)
                        r = rf_push(L, s + k0, 0, k - k0, s + vpos + 1, end - vpos - 2, 1, !skip);
                    else {
                        unsigned char *b = scratch(&L->sc, end - vpos);
                        size_t m = 0;
                        if (b == NULL)
                            return RF_NOMEM;
                        for (size_t i = vpos + 1; i + 1 < end; i++) {
                            if (s[i] == '\\')
                                i++;
                            b[m++] = s[i];
                        }
                        r = rf_push(L, s + k0, 0, k - k0, b, m, 0, !skip);
                    }
                } else {
                    r = rf_push(L, s + k0, 0, k - k0, s + vpos, end - vpos, 1, !skip);
                    L->f[L->nf - 1].plain = plain; /* a key is ASCII key characters */
                }
                if (r != RF_OK)
                    return r;
            }
            p = end;
        }
    return RF_OK;
}

/* A JSON line's quotes as bits, one per byte, for lines of up to QUOTE_BLOCKS
 * 64-byte blocks readable as whole blocks: each string's end is then the next bit,
 * not a loop over its bytes. The lines these masks are made for hold no backslash,
 * control byte or byte >= 0x80 (`bad`: one of them is in the line). */
#define QUOTE_BLOCKS 16
typedef struct {
    unsigned long long q[QUOTE_BLOCKS];
    size_t blocks;
} quote_masks;

/* Keep block b's quote bits, those of the line's bytes only; its bad bits, the same. */
static inline unsigned long long
quote_block(quote_masks *m, size_t b, size_t n, unsigned long long q, unsigned long long x)
{
    size_t left = n - 64 * b; /* the bits past the line are not its bytes */
    unsigned long long in = left >= 64 ? ~0ULL : (1ULL << left) - 1;
    m->q[b] = q & in;
    return x & in;
}

#if defined(__SSE2__)
static int
quote_masks_sse2(cp s, size_t n, quote_masks *m)
{
    unsigned long long bad = 0;
    for (size_t b = 0; b < m->blocks; b++) {
        unsigned long long q = 0, x = 0;
        for (int k = 0; k < 4; k++) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + 64 * b + 16 * k));
            q |= (unsigned long long)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')))
                 << (16 * k);
            /* signed: bytes < 0x20 and >= 0x80 both compare below 0x20 */
            x |= (unsigned long long)_mm_movemask_epi8(
                     _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))))
                 << (16 * k);
        }
        bad |= quote_block(m, b, n, q, x);
    }
    return bad != 0;
}
#endif

#if defined(__x86_64__)
__attribute__((target("avx2"))) static int
quote_masks_avx2(cp s, size_t n, quote_masks *m)
{
    unsigned long long bad = 0;
    for (size_t b = 0; b < m->blocks; b++) {
        unsigned long long q = 0, x = 0;
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(s + 64 * b + 32 * h));
            q |= (unsigned long long)(unsigned)_mm256_movemask_epi8(
                     _mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')))
                 << (32 * h);
            x |= (unsigned long long)(unsigned)_mm256_movemask_epi8(
                     _mm256_or_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v),
                                     _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))))
                 << (32 * h);
        }
        bad |= quote_block(m, b, n, q, x);
    }
    return bad != 0;
}
#endif

/* The quote masks of s[0:n]: 1, 0 when the line is too long or its blocks are not
 * readable, -1 when it holds a byte the masks are not for. */
static inline int
quote_masks_of(cp s, size_t n, cp readable, quote_masks *m)
{
#if defined(__SSE2__)
    m->blocks = (n + 63) / 64;
    if (n == 0 || m->blocks > QUOTE_BLOCKS || readable == NULL || s > readable ||
        (size_t)(readable - s) < 64 * m->blocks)
        return 0;
    int bad;
#if defined(__x86_64__)
    if (lc_has_avx2)
        bad = quote_masks_avx2(s, n, m);
    else
#endif
        bad = quote_masks_sse2(s, n, m);
    return bad ? -1 : 1;
#else
    (void)s, (void)n, (void)readable, (void)m;
    return 0;
#endif
}

/* The end of the JSON string whose text starts at s[i] (its closing quote), or 0
 * when a byte before it is one fast_json leaves to the usual reading (a backslash,
 * a control byte, a byte >= 0x80) or the line ends first. From the masks when
 * there are (m->blocks > 0: the line holds none of those bytes). */
static inline size_t
fast_string_end(cp s, size_t n, size_t i, const quote_masks *m)
{
    if (m->blocks) {
        size_t w = i >> 6;
        unsigned long long x = i < n ? m->q[w] & (~0ULL << (i & 63)) : 0;
        while (!x && i < n && ++w < m->blocks)
            x = m->q[w];
        return x ? 64 * w + (size_t)__builtin_ctzll(x) : 0;
    }
    while (i < n && !(CLASS[s[i]] & C_ESC))
        i++;
    return i < n && s[i] == '"' ? i : 0;
}

enum { SKIP_NONE = 0, SKIP_SYSLOG = 1, SKIP_TS = 2, SKIP_PID = 4, SKIP_MSGID = 8 };

/* Whether a syslog MSG's pair named s[0:kn] is left out of the fields (as
 * body_fields leaves it, `keep`): the record's own host, app and facility, and the
 * names of the header's fields: pri, severity, msg, level always, timestamp and
 * procid when the header has them (`skip`). */
static inline int
syslog_skips(cp s, size_t kn, int skip)
{
    switch (kn) {
    case 3:
        return memcmp(s, "app", 3) == 0 || memcmp(s, "pri", 3) == 0 || memcmp(s, "msg", 3) == 0;
    case 4:
        return memcmp(s, "host", 4) == 0;
    case 5:
        return memcmp(s, "level", 5) == 0 || ((skip & SKIP_MSGID) && memcmp(s, "msgid", 5) == 0);
    case 6:
        return (skip & SKIP_PID) && memcmp(s, "procid", 6) == 0;
    case 8:
        return memcmp(s, "facility", 8) == 0 || memcmp(s, "severity", 8) == 0;
    case 9:
        return (skip & SKIP_TS) && memcmp(s, "timestamp", 9) == 0;
    default:
        return 0;
    }
}

/* Whether the masks hold a '=' in s[a:b] (a < b, within the masked blocks). */
static inline int
eq_within(const pair_masks *m, size_t a, size_t b)
{
    for (size_t w = a >> 6; w <= (b - 1) >> 6; w++) {
        unsigned long long x = m->eq[w];
        if (w == a >> 6)
            x &= ~0ULL << (a & 63);
        if (w == (b - 1) >> 6 && (b & 63))
            x &= (1ULL << (b & 63)) - 1;
        if (x)
            return 1;
    }
    return 0;
}

/* The piece of a plain line (no byte to escape, so no '"' and no whitespace but
 * ' ') that is neither syslog nor JSON, or of a plain syslog line's MSG (`skip`
 * not SKIP_NONE): its logfmt pairs as body_fields() finds them (the first of each
 * name), read from the masks into L->fp, the piece's size exact. 0 (the line read
 * the usual way) when a plain line's name is host or app (the record's own fields,
 * which come first) or there are more than FAST_PAIRS pairs. A MSG's pairs named
 * as the header's fields are left out (syslog_skips). */
__attribute__((always_inline)) static inline int
fast_pairs(rline_t *L, cp s, size_t n, const pair_masks *m, const quote_masks *qm, int skip,
           size_t *size)
{
    size_t p = 0, bytes = 0;
    unsigned long long seen = 0;
    int np = 0;
    for (size_t base = 0; base < n; base += 64)
        for (unsigned long long eqs = m->eq[base >> 6]; eqs; eqs &= eqs - 1) {
            size_t k = base + (size_t)__builtin_ctzll(eqs);
            if (k < p)
                continue;
            size_t k0 = masked_key_begin(m, k, p);
            if (k0 == k || !key_start(s[k0]) || (k0 > 0 && s[k0 - 1] != ' '))
                continue;
            size_t kn = k - k0, v = k + 1, end, vn;
            if (qm != NULL && v < n && s[v] == '"') { /* a quoted value: up to its quote */
                size_t close = fast_string_end(s, n, v + 1, qm);
                if (!close || eq_within(m, v + 1, close))
                    return 0; /* unterminated, or a '=' in it (maybe a host=) */
                end = close + 1;
                vn = close - ++v;
            } else {
                end = masked_value_end(m, n, v);
                vn = end - v;
            }
            p = end;
            if (skip) {
                if (syslog_skips(s + k0, kn, skip))
                    continue; /* and so is every later pair of its name */
            } else if ((kn == 4 && memcmp(s + k0, "host", 4) == 0) ||
                       (kn == 3 && memcmp(s + k0, "app", 3) == 0))
                return 0;
            unsigned long long bit = 1ULL << ((s[k0] + kn * 8) & 63);
            int first = 1;
            if (seen & bit)
                for (int i = 0; i < np && first; i++)
                    first = !(L->fp[i].kn == kn && memcmp(s + L->fp[i].k0, s + k0, kn) == 0);
            seen |= bit;
            if (!first)
                continue;
            if (np == FAST_PAIRS)
                return 0;
            L->fp[np++] = (fast_pair){(unsigned short)k0, (unsigned short)kn, (unsigned short)v,
                                      (unsigned short)vn};
            bytes += kn + vn + 6; /* "name":"value", */
        }
    L->nfp = np;
    L->fs = s;
    L->fhost = L->fapp = -1;
    L->fskip = 0;
    L->fverbatim = 0;
    *size = np ? 11 + bytes : 0; /* ,"fields":{ ... } */
    return 1;
}

/* The place in JSON_KEYS of a member name k[0:kn] that names the record's host or
 * app (HOST_KEYS, then APP_KEYS, each in its order), or -1: one comparison at most. */
static inline int
top_key(cp k, size_t kn)
{
#define TOP_IS(t, name) (memcmp(k, name, sizeof name - 1) == 0 ? (t) : -1) /* inlined */
    switch (kn) {
    case 3: return TOP_IS(5, "app");
    case 4: return k[0] == 'h' ? TOP_IS(0, "host") : k[0] == 'H' ? TOP_IS(3, "HOST") : TOP_IS(6, "_app");
    case 7:
        switch (k[0]) {
        case 'a': return TOP_IS(7, "appname");
        case 's': return TOP_IS(9, "service");
        case 'P': return TOP_IS(12, "PROGRAM");
        default: return TOP_IS(13, "program");
        }
    case 8: return TOP_IS(2, "hostname");
    case 9: return k[0] == 'h' ? TOP_IS(1, "host.name") : TOP_IS(4, "_HOSTNAME");
    case 11: return k[0] == 'a' ? TOP_IS(8, "application") : TOP_IS(14, "programname");
    case 12: return k[7] == '.' ? TOP_IS(10, "service.name") : TOP_IS(11, "service_name");
    default: return kn == 17 ? TOP_IS(15, "SYSLOG_IDENTIFIER") : -1;
    }
#undef TOP_IS
}

/* The piece of a one-level JSON object line with no backslash, no control byte and
 * no byte >= 0x80 in it (spaces its only whitespace), whose values are strings,
 * integers, true, false or null: its members read in one pass into L->fp (each
 * value's JSON text, a string's without its quotes, is the field's text as
 * fields._flatten gives it), with the record's host and app (fields.host_of,
 * app_of) from the members of those names. 0 (the line read the usual way, which
 * also decides whether it is JSON at all) for anything else: a nested object, an
 * array, a float, a name given twice, a host or app member
 * that is null, a facility or short_message member (GELF's rules), more than
 * FAST_PAIRS members. */
static int
fast_json(rline_t *L, cp s, size_t n, size_t *size)
{
    size_t i = 0;
    int np = 0, host = -1, app = -1, host_rank = NHOST, app_rank = NHOST + NAPP,
        jlevel = LC_LEVEL_TOKENS, strings = 1; /* strings: every value is a string */
    unsigned long long seen = 0, skip = 0;
    if (n > 0xFFFF)
        return 0;
    quote_masks m;
    int masked = quote_masks_of(s, n, L->readable, &m);
    if (masked < 0)
        return 0;
    if (!masked)
        m.blocks = 0;
    while (i < n && s[i] == ' ')
        i++;
    if (i >= n || s[i] != '{')
        return 0;
    for (i++; i < n && s[i] == ' '; i++)
        ;
    if (i < n && s[i] == '}')
        i++;
    else
        for (;;) {
            if (i >= n || s[i] != '"')
                return 0;
            size_t k0 = i + 1, ke = fast_string_end(s, n, k0, &m);
            if (!ke)
                return 0;
            for (i = ke + 1; i < n && s[i] == ' '; i++)
                ;
            if (i >= n || s[i] != ':')
                return 0;
            for (i++; i < n && s[i] == ' '; i++)
                ;
            if (i >= n)
                return 0;
            size_t v0 = i, ve;
            int null = 0;
            unsigned char c = s[i];
            if (c == '"') {
                v0 = i + 1;
                if (!(ve = fast_string_end(s, n, v0, &m)))
                    return 0;
                i = ve + 1;
            } else if (c == '-' || is_digit(c)) {
                strings = 0;
                /* an integer as json.dumps writes it again: no "-0", at most
                 * MAX_INT_DIGITS digits (a fraction or an exponent, a float, is
                 * none of the bytes that may follow a value) */
                i += c == '-';
                if (i >= n || !is_digit(s[i]) || (c == '-' && s[i] == '0'))
                    return 0;
                if (s[i] == '0') /* "01" is no JSON: left to what follows a value */
                    i++;
                else
                    while (i < n && is_digit(s[i]))
                        i++;
                if (i - v0 > MAX_INT_DIGITS)
                    return 0;
                ve = i;
            } else if (n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
                ve = i += 4;
                strings = 0;
            } else if (n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
                ve = i += 5;
                strings = 0;
            } else if (n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
                ve = i += 4;
                null = 1;
                strings = 0;
            } else
                return 0; /* an object, an array, or no JSON */
            size_t kn = ke - k0;
            cp k = s + k0;
            if (kn == 5 && c != '"' && !null && memcmp(k, "level", 5) == 0 &&
                (c == '-' || is_digit(c))) { /* an integer "level" */
                int code = numeric_level(s + v0, ve - v0);
                jlevel = code >= 0 ? code : LC_LEVEL_TOKENS;
            }
            if ((kn == 8 && memcmp(k, "facility", 8) == 0) ||
                (kn == 13 && memcmp(k, "short_message", 13) == 0))
                return 0;
            int t = top_key(k, kn);
            if (t >= 0) {
                if (null)
                    return 0;
                if (t < NHOST && t < host_rank) {
                    host = np;
                    host_rank = t;
                }
                else if (t >= NHOST && t < app_rank) {
                    app = np;
                    app_rank = t;
                }
                if (t == 0 || t == NHOST) /* "host", "app": the same text as the record's */
                    skip |= 1ULL << np;
            }
            unsigned long long bit = 1ULL << ((kn ? k[0] + kn * 8 : 0) & 63);
            if (seen & bit)
                for (int j = 0; j < np; j++)
                    if (L->fp[j].kn == kn && memcmp(s + L->fp[j].k0, k, kn) == 0)
                        return 0;
            seen |= bit;
            if (np == FAST_PAIRS)
                return 0;
            L->fp[np++] = (fast_pair){(unsigned short)k0, (unsigned short)kn, (unsigned short)v0,
                                      (unsigned short)(ve - v0)};
            for (; i < n && s[i] == ' '; i++)
                ;
            if (i < n && s[i] == ',') {
                for (i++; i < n && s[i] == ' '; i++)
                    ;
                continue;
            }
            if (i < n && s[i] == '}') {
                i++;
                break;
            }
            return 0;
        }
    while (i < n && s[i] == ' ')
        i++;
    if (i != n)
        return 0;
    size_t bytes = 0, fields = 0;
    for (int j = 0; j < np; j++)
        if (!(skip >> j & 1)) {
            bytes += L->fp[j].kn + L->fp[j].vn + 6; /* "name":"value", */
            fields++;
        }
    *size = (fields ? 11 + bytes : 0) + (host >= 0 ? 10 + L->fp[host].vn : 0) +
            (app >= 0 ? 9 + L->fp[app].vn : 0);
    L->nfp = np;
    L->fs = s;
    L->fhost = host;
    L->fapp = app;
    L->fskip = skip;
    /* "fields" writes every member as "name":"value", so the line is that object
     * itself when its values are strings, none is left out and it has no space:
     * {"a":"b","c":"d"} is the sum of kn + vn + 6 ("name":"value",) plus one */
    L->fverbatim = strings && !skip && np && n == bytes + 1 ? n : 0;
    L->jlevel = jlevel; /* the members are unique: this "level" is json.loads' */
    return 1;
}

/* fields._syslog's header fields of a line (its header h), then its MSG's. */
static int
syslog_fields(rline_t *L, cp s, size_t n, int pri, const syslog_head *h)
{
    char num[3], sev[1] = {(char)('0' + (pri & 7))};
    size_t digits = pri >= 100 ? 3 : pri >= 10 ? 2 : 1; /* 0-191, no leading zero */
    for (size_t i = digits, v = (size_t)pri; i-- > 0; v /= 10)
        num[i] = (char)('0' + v % 10);
    /* the numbers are copied: the piece is written after this returns */
    int r = rf_push(L, (cp) "pri", 0, 3, (cp)num, digits, 0, 1);
    r = r ? r : rf_adds(L, "facility", FACILITIES[pri >> 3].s);
    r = r ? r : rf_push(L, (cp) "severity", 0, 8, (cp)sev, 1, 0, 1);
    if (r)
        return r;
    static const char *const names[5] = {"timestamp", "host", "app", "procid", "msgid"};
    const word_t *words[5] = {&h->ts, &h->host, &h->app, &h->pid, &h->msgid};
    for (int w = 0; w < 5; w++)
        if (words[w]->n && (r = rf_add(L, names[w], strlen(names[w]), s + words[w]->o,
                                       words[w]->n)) != RF_OK)
            return r;
    if (h->sd)
        return RF_UNSURE; /* SD params */
    size_t m = h->msg;
    if ((r = rf_add(L, "msg", 3, s + m, n - m)) != RF_OK)
        return r;
    if ((r = rf_adds(L, "level", SEVERITY_NAMES[pri & 7].s)) != RF_OK)
        return r;
    return body_fields(L, s + m, n - m, L->nf, 1, -1);
}

/* The piece of a plain syslog line (no byte to escape, or only '"' in its MSG)
 * whose PRI ends at pos, its header read once (syslog_header): the record's host,
 * app and facility, then the fields syslog_fields() finds (pri, severity,
 * timestamp, procid, msgid, msg, level; its host, app and facility are the
 * record's own, so not repeated), then the MSG's logfmt pairs (fast_pairs). 0 (the
 * line read the usual way) for an RFC 5424 header with SD params, or a MSG past
 * MASK_BLOCKS blocks or not readable as whole blocks. *size bounds the piece. */
static int
fast_syslog(rline_t *L, cp s, size_t n, int pri, int plain_line, size_t *size)
{
    if (L->sh.sd)
        return 0;
    size_t p = L->sh.msg;
    L->sn = n;
    quote_masks qm;
    L->squoted = !plain_line;
    if (L->squoted) {
        /* its bytes to escape can only be '"' in a MSG that is no JSON object (a MSG
         * in JSON needs a '"' unless it is empty, and then has no pairs either) */
        for (size_t i = 0; i < p; i++)
            if (CLASS[s[i]] & C_ESC)
                return 0;
        size_t lead = p;
        while (lead < n && s[lead] == ' ')
            lead++;
        if (lead < n && s[lead] == '{')
            return 0;
        if (quote_masks_of(s + p, n - p, L->readable, &qm) != 1)
            return 0;
    }
    size_t pairs = 0;
    L->nfp = 0;
    if (p < n) {
        pair_masks m;
        int skip = SKIP_SYSLOG | (L->sh.ts.n ? SKIP_TS : 0) | (L->sh.pid.n ? SKIP_PID : 0) |
                   (L->sh.msgid.n ? SKIP_MSGID : 0);
        if (!pair_masks_of(s + p, n - p, L->readable, &m) ||
            !fast_pairs(L, s + p, n - p, &m, L->squoted ? &qm : NULL, skip, &pairs))
            return 0;
    }
    L->spri = pri;
    L->fs = s + p;
    /* the header's words and the MSG (parts of the line), the MSG's quotes escaped,
     * the pairs (their size from fast_pairs, less its ,"fields":{), the names and
     * constants (at most 152 bytes), the 16-byte copies of the last value */
    *size = n + (L->squoted ? n - p : 0) + (pairs ? pairs - 11 : 0) + 176 + 16;
    return 1;
}

/* s[0:n] as a JSON string at d (room for 6 * n + 2 bytes); the new end. `plain`:
 * known to need no escaping. */
static inline char *
put_string(char *d, cp s, size_t n, int plain)
{
    *d++ = '"';
    size_t i = 0;
    if (!plain)
        while (i < n && !(CLASS[s[i]] & C_ESC))
            i++;
    if (plain || i == n)
        d = lc_put(d, s, n);
    else
        d = lc_json_escape(d, s, n);
    *d++ = '"';
    return d;
}

static inline char *
put_raw(char *d, const char *s, size_t n)
{
    memcpy(d, s, n);
    return d + n;
}

/* Whether s[0:n] holds neither a backslash nor a byte >= 0x80. */
static int
ascii_unescaped(cp s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i bslash = _mm_set1_epi8('\\'), zero = _mm_setzero_si128();
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, zero), _mm_cmpeq_epi8(v, bslash))))
            return 0;
    }
#endif
    for (; i < n; i++)
        if (s[i] >= 0x80 || s[i] == '\\')
            return 0;
    return 1;
}

void
lc_piece_bounds(lc_rline *L, const unsigned char *lo, const unsigned char *hi)
{
    L->lo = lo;
    L->hi = hi;
}

void
lc_piece_readable(lc_rline *L, const unsigned char *end)
{
    L->readable = end;
}

int
lc_piece_level(lc_rline *L, const unsigned char *s, size_t n)
{
    if (L->jlevel != LC_LEVEL_READ)
        return L->jlevel;
    /* a JSON line fast_json did not take (its own scratch: L->sc may hold the
     * piece's values until it is written) */
    scratch_t sc = {NULL, 0};
    int code = structured_code(s, n, &sc);
    free(sc.buf);
    return code == -2 ? LC_LEVEL_UNSURE : code >= 0 ? code : LC_LEVEL_TOKENS;
}

/* A short name or value copied as the 16 bytes from it when they are readable (no
 * branch on its length), else by lc_put; the new end. */
static inline char *
put_short(const rline_t *L, char *d, cp s, size_t n)
{
    if (n <= 16 && s >= L->lo && s + 16 <= L->hi) {
        memcpy(d, s, 16);
        return d + n;
    }
    return lc_put(d, s, n);
}

lc_rline *
lc_rline_new(void)
{
    rline_t *L = malloc(sizeof(rline_t));
    if (L != NULL)
        memset(L, 0, offsetof(rline_t, f));
    return L;
}

void
lc_rline_free(lc_rline *L)
{
    if (L == NULL)
        return;
    free(L->a.b);
    free(L->sc.buf);
    free(L);
}

/* Reads the fields of the line s[0:n] into L: RF_OK (*room bounds the piece),
 * RF_UNSURE or RF_NOMEM. */
int
lc_piece_read(lc_rline *L, const unsigned char *s, size_t n, int plain_line, size_t *room_out)
{
    L->a.n = 0;
    L->nf = 0;
    L->fast = 0;
    L->jlevel = LC_LEVEL_TOKENS; /* LC_LEVEL_READ once it is a JSON object */
    L->all_plain = plain_line; /* every name and value is the line's text or a constant */
    size_t pos = 0, lead = 0;
    int pri = pri_of(s, n, &pos);
    while (lead < n && py_space(s[lead]))
        lead++;
    int want[3] = {1, 1, 1}, r, plain = pri < 0 && (lead == n || s[lead] != '{');
    if (plain) { /* the usual logfmt line: its pairs straight from masks, when it holds
                  * no byte to escape or only '"' (quoted values, read to their quote) */
        pair_masks m;
        quote_masks qm, *q = NULL;
        size_t size;
        int masked = pair_masks_of(s, n, L->readable, &m);
        if (masked && !plain_line) {
            masked = quote_masks_of(s, n, L->readable, &qm) == 1;
            q = &qm;
        }
        if (masked && fast_pairs(L, s, n, &m, q, SKIP_NONE, &size)) {
            L->fast = 1;
            *room_out = size + 16; /* the 16-byte copies of the last value */
            return RF_OK;
        }
    }
    if (pri >= 0) { /* a syslog line: its header read once, here */
        syslog_header(s, n, pos, &L->sh);
        size_t size;
        if (fast_syslog(L, s, n, pri, plain_line, &size)) {
            L->fast = FAST_SYSLOG;
            *room_out = size;
            return RF_OK;
        }
    }
    if (pri < 0 && !plain) { /* the usual JSON line: its members in one pass */
        size_t size;
        L->jlevel = LC_LEVEL_READ; /* unless fast_json reads it */
        if (fast_json(L, s, n, &size)) {
            L->fast = 1;
            *room_out = size + 16;
            return RF_OK;
        }
    }
    L->quoted_eq = 0;
    if (plain) {
        /* neither syslog nor JSON: logfmt pairs, whose first host= and app= are the
         * top-level ones (logfmt_value reads the same, but in a quoted value); no
         * facility */
        if ((r = body_fields(L, s, n, 0, 0, J_INVALID)) != RF_OK)
            return r;
        int host = RF_FIND_NAME(L, 0, "host"), app = RF_FIND_NAME(L, 0, "app");
        want[K_HOST] = want[K_APP] = L->quoted_eq;
        want[K_FACILITY] = 0;
        L->has_top[K_HOST] = L->has_top[K_APP] = L->has_top[K_FACILITY] = 0;
        if (!L->quoted_eq && host >= 0) {
            rfield_t *f = &L->f[host];
            long at = gb_put(&L->a, FVAL(L, f), f->vn);
            if (at < 0)
                return RF_NOMEM;
            L->has_top[K_HOST] = 1;
            L->top_o[K_HOST] = (size_t)at;
            L->top_n[K_HOST] = f->vn;
        }
        if (!L->quoted_eq && app >= 0) {
            rfield_t *f = &L->f[app];
            long at = gb_put(&L->a, FVAL(L, f), f->vn);
            if (at < 0)
                return RF_NOMEM;
            L->has_top[K_APP] = 1;
            L->top_o[K_APP] = (size_t)at;
            L->top_n[K_APP] = f->vn;
        }
    }
    int js = -1;
    jkey_t keys[NJSON];
    if (pri < 0 && !plain) { /* a JSON object: its three values from one parse */
        json_keys(keys, 0, NJSON);
        js = json_top(s, n, keys, NJSON, &L->sc);
        if (js == J_NOTSURE)
            return RF_UNSURE;
        /* A JSON string holds no control byte and no '"' unescaped: without a
         * backslash or a byte >= 0x80, no name or value of the object needs escaping. */
        if (js == J_OK && ascii_unescaped(s, n))
            L->all_plain = 1;
    }
    val_t head[3]; /* a syslog line's: HOST and APP from its header (L->sh) */
    int has_head[3] = {0, 0, 1};
    if (pri >= 0) {
        const word_t *w[2] = {&L->sh.host, &L->sh.app}; /* K_HOST, K_APP */
        for (int k = 0; k < 2; k++) {
            head[k] = (val_t){s + w[k]->o, w[k]->n};
            has_head[k] = w[k]->n > 0;
        }
        head[K_FACILITY] = (val_t){(cp)FACILITIES[pri >> 3].s, FACILITIES[pri >> 3].n};
    }
    for (int k = 0; k < 3; k++) {
        if (!want[k])
            continue;
        val_t v;
        int got = pri >= 0    ? (has_head[k] ? V_FOUND : V_ABSENT)
                  : js == J_OK ? json_value(k, keys, s, &L->sc, &v)
                               : line_value(k, NULL, s, n, &L->sc, &v);
        if (pri >= 0 && has_head[k])
            v = head[k];
        if (got == V_UNSURE)
            return RF_UNSURE;
        L->has_top[k] = got == V_FOUND;
        if (got == V_FOUND) {
            long at = gb_put(&L->a, v.s, v.n);
            if (at < 0)
                return RF_NOMEM;
            L->top_o[k] = (size_t)at;
            L->top_n[k] = v.n;
        }
    }
    if (!plain && (r = pri >= 0 ? syslog_fields(L, s, n, pri, &L->sh)
                                 : body_fields(L, s, n, 0, 0, js)) != RF_OK)
        return r;
    size_t room = 16;
    for (int k = 0; k < 3; k++)
        if (L->has_top[k])
            room += 16 + 6 * L->top_n[k];
    for (int i = 0; i < L->nf; i++)
        room += 6 * (L->f[i].kn + L->f[i].vn) + 6;
    *room_out = room;
    return RF_OK;
}

/* ,"NAME":"WORD" for a header word of fast_syslog() that is there (its n > 0),
 * `name` a literal from the comma to the opening quote. */
#define PUT_WORD(d, name, w) put_word(L, d, name, sizeof(name) - 1, s + (w).o, (w).n)
static inline char *
put_word(const rline_t *L, char *d, const char *name, size_t k, cp v, size_t n)
{
    if (!n)
        return d;
    d = put_raw(d, name, k);
    d = put_short(L, d, v, n);
    *d++ = '"';
    return d;
}

/* The piece of fast_syslog() at d. */
static char *
syslog_write(const rline_t *L, char *d)
{
    cp s = L->fs - L->sh.msg;
    size_t mn = L->sn - L->sh.msg;
    d = PUT_WORD(d, ",\"host\":\"", L->sh.host);
    d = PUT_WORD(d, ",\"app\":\"", L->sh.app);
    int pri = L->spri;
    const name16 *fac = &FACILITIES[pri >> 3];
    d = put_raw(d, ",\"facility\":\"", 13);
    memcpy(d, fac->s, 16); /* the room has 16 bytes past the piece */
    d += fac->n;
    d = put_raw(d, "\",\"fields\":{\"pri\":\"", 19);
    d = put_raw(d, (const char *)s + 1, pri >= 100 ? 3 : pri >= 10 ? 2 : 1); /* no leading 0 */
    d = put_raw(d, "\",\"severity\":\"", 14);
    *d++ = (char)('0' + (pri & 7));
    *d++ = '"';
    d = PUT_WORD(d, ",\"timestamp\":\"", L->sh.ts);
    d = PUT_WORD(d, ",\"procid\":\"", L->sh.pid);
    d = PUT_WORD(d, ",\"msgid\":\"", L->sh.msgid);
    d = put_raw(d, ",\"msg\":\"", 8);
    if (L->squoted) /* its '"' as \" */
        d = lc_json_escape(d, s + L->sh.msg, mn);
    else /* its blocks are readable (fast_syslog read them as masks) */
        d = lc_put_over(d, s + L->sh.msg, mn);
    d = put_raw(d, "\",\"level\":\"", 11);
    memcpy(d, SEVERITY_NAMES[pri & 7].s, 16);
    d += SEVERITY_NAMES[pri & 7].n;
    *d++ = '"';
    for (int i = 0; i < L->nfp; i++) {
        const fast_pair *f = &L->fp[i];
        d = put_raw(d, ",\"", 2);
        d = put_short(L, d, L->fs + f->k0, f->kn);
        d = put_raw(d, "\":\"", 3);
        d = put_short(L, d, L->fs + f->v, f->vn);
        *d++ = '"';
    }
    *d++ = '}';
    return d;
}

/* The piece of fast_pairs() at d. */
static char *
fast_write(const rline_t *L, char *d)
{
    if (L->fhost >= 0) {
        d = put_raw(d, ",\"host\":\"", 9);
        d = put_short(L, d, L->fs + L->fp[L->fhost].v, L->fp[L->fhost].vn);
        *d++ = '"';
    }
    if (L->fapp >= 0) {
        d = put_raw(d, ",\"app\":\"", 8);
        d = put_short(L, d, L->fs + L->fp[L->fapp].v, L->fp[L->fapp].vn);
        *d++ = '"';
    }
    if (!L->nfp || L->fskip == (1ULL << L->nfp) - 1) /* no field left */
        return d;
    if (L->fverbatim) {
        d = put_raw(d, ",\"fields\":", 10);
        return lc_put(d, L->fs, L->fverbatim);
    }
    d = put_raw(d, ",\"fields\":{", 11);
    for (int i = 0; i < L->nfp; i++) {
        const fast_pair *f = &L->fp[i];
        if (L->fskip >> i & 1)
            continue;
        *d++ = '"';
        d = put_short(L, d, L->fs + f->k0, f->kn);
        d = put_raw(d, "\":\"", 3);
        d = put_short(L, d, L->fs + f->v, f->vn);
        d = put_raw(d, "\",", 2);
    }
    d[-1] = '}';
    return d;
}

/* The piece of the line lc_piece_read last read (RF_OK) at d, at most its room;
 * the new end. */
char *
lc_piece_write(const lc_rline *L, char *d)
{
    if (L->fast == FAST_SYSLOG)
        return syslog_write(L, d);
    if (L->fast)
        return fast_write(L, d);
    for (int k = 0; k < 3; k++) {
        if (!L->has_top[k])
            continue;
        d = put_raw(d, ",\"", 2);
        d = lc_put(d, TOP_NAMES[k], k == K_HOST ? 4 : k == K_APP ? 3 : 8);
        d = put_raw(d, "\":", 2);
        d = put_string(d, L->a.b + L->top_o[k], L->top_n[k], L->all_plain);
    }
    int any = 0, tops = L->has_top[0] | L->has_top[1] | L->has_top[2];
    for (int i = 0; i < L->nf; i++) {
        const rfield_t *f = &L->f[i];
        if (!f->leaf)
            continue;
        cp key = FKEY(L, f), val = FVAL(L, f);
        int dup = 0;
        for (int k = 0; tops && k < 3 && !dup; k++)
            dup = L->has_top[k] && f->kn == (k == K_HOST ? 4u : k == K_APP ? 3u : 8u) &&
                  memcmp(key, TOP_NAMES[k], f->kn) == 0 && f->vn == L->top_n[k] &&
                  memcmp(val, L->a.b + L->top_o[k], f->vn) == 0;
        if (dup)
            continue;
        d = any ? put_raw(d, ",", 1) : put_raw(d, ",\"fields\":{", 11);
        any = 1;
        if (f->plain || L->all_plain) { /* "name":"value" */
            *d++ = '"';
            d = put_short(L, d, key, f->kn);
            d = put_raw(d, "\":\"", 3);
            d = put_short(L, d, val, f->vn);
            *d++ = '"';
            continue;
        }
        d = put_string(d, key, f->kn, 0);
        *d++ = ':';
        d = put_string(d, val, f->vn, 0);
    }
    if (any)
        *d++ = '}';
    return d;
}
