/* The lines of a region that may have a wanted level, found by one SIMD pass.
 *
 * A line's level (fields.structured_level, else levels.level_of) can be one of a
 * set only when the line holds, ASCII case-insensitively, a level word of the set
 * (a token is a word), starts with '<' (a syslog PRI) or holds a JSON "level" key
 * followed by a number (or holds a backslash: an escaped JSON text is parsed in
 * full). lc_levelscan_next() skips every other line: 32 positions at a time are
 * tested against three bytes of each level word of lc_level_words, "\"level\"",
 * "\n<" and the backslash, and only the surviving positions are compared in full.
 * The frequent hits are settled without reading the line: a PRI of another level
 * is passed over (its line's level is the PRI's), and so is a "level" key followed
 * by no number (a '"' eight bytes on is left out by the SIMD test itself: the
 * usual "level":"info"); such a line is read only if a word of the set is in it.
 * The caller reads each line returned with the exact level test; the lines
 * skipped have another level, so the result is the same as reading every line
 * (without AVX2 every line is returned). Reference: fieldscan.py_select_levels.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

int
lc_levelscan_init(lc_levelscan *L, unsigned long mask)
{
    L->n = 0;
    L->mask = mask;
    if (!lc_has_avx2 || lc_level_words(mask, &L->words) < 0)
        return -1;
    const lc_anyof *a = &L->words;
    for (int t = 0; t < a->n; t++) {
        L->s[t] = a->s[t];
        L->k[t] = a->k[t];
    }
    L->key = a->n - 2; /* lc_level_words' last two: "\"level\"" and "\n<" */
    L->pri = a->n - 1;
    L->s[a->n] = (const unsigned char *)"\\"; /* an escaped JSON text is read in full */
    L->k[a->n] = 1;
    for (int t = 0; t < L->key; t++) { /* the words (lower case): bytes 0, 1, and 3 or 2 */
        size_t k = L->k[t];
        if (k < 3)
            return -1;
        unsigned char off[3] = {0, 1, k > 3 ? 3 : 2};
        for (int j = 0; j < 3; j++) {
            L->off[t][j] = off[j];
            L->c[t][j] = L->s[t][off[j]];
            if (!lc_letter(L->c[t][j]))
                return -1; /* compared lowered (byte | 0x20): letters only */
        }
    }
    L->n = a->n + 1;
    return 0;
}

/* Whether literal t starts at q (ASCII case-insensitively; e: the region's end). */
static inline int
literal_at(const lc_levelscan *L, int t, const unsigned char *q, const unsigned char *e)
{
    size_t k = L->k[t];
    const unsigned char *s = L->s[t];
    if ((size_t)(e - q) < k)
        return 0;
    for (size_t j = 0; j < k; j++)
        if (lc_lower(q[j]) != s[j])
            return 0;
    return 1;
}

static inline int
json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Literal t found at q (p: a line start at or before q): the start of the line to
 * read, or NULL when the hit says nothing: a "level" key without a number (the
 * backslash of an escaped text is a hit of its own), a PRI of another level. */
static inline const unsigned char *
on_hit(const lc_levelscan *L, int t, const unsigned char *q, const unsigned char *p,
       const unsigned char *e)
{
    if (t == L->pri) {
        int code = lc_pri_code(q + 1, (size_t)(e - q - 1));
        if (code == 0 || (L->mask >> code & 1))
            return q + 1; /* no PRI (its words are hits of their own), or a wanted one */
        return NULL;       /* the line's level is the PRI's: a word in it decides nothing */
    }
    if (t == L->key) {
        const unsigned char *r = q + 7;
        while (r < e && json_space(*r))
            r++;
        if (r >= e || *r != ':')
            return NULL;
        r++;
        while (r < e && json_space(*r))
            r++;
        if (r >= e || !((*r >= '0' && *r <= '9') || *r == '-'))
            return NULL;
    }
    const unsigned char *nl = q > p ? memrchr(p, '\n', (size_t)(q - p)) : NULL;
    return nl ? nl + 1 : p;
}

/* The first hit at p[i:i+32] (bits m) that names a line to read, or NULL. */
static const unsigned char *
chunk_hits(const lc_levelscan *L, const unsigned char *p, size_t i, unsigned m,
           const unsigned char *e)
{
    while (m) {
        const unsigned char *q = p + i + (unsigned)__builtin_ctz(m);
        for (int t = 0; t < L->n; t++) {
            if (!literal_at(L, t, q, e))
                continue;
            const unsigned char *ls = on_hit(L, t, q, p, e);
            if (ls != NULL)
                return ls;
        }
        m &= m - 1;
    }
    return NULL;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static const unsigned char *
next_avx2(const lc_levelscan *L, const unsigned char *p, const unsigned char *e)
{
    /* The words by the bytes they test, lowered: at offsets 0, 1, 3 (four letters or
     * more) or 0, 1, 2 (three letters). The "level" key, "\n<" and the backslash
     * are tested apart. */
    __m256i c4[LC_LV_MAX][3], c3[LC_LV_MAX][3];
    int n4 = 0, n3 = 0;
    for (int t = 0; t < L->key; t++) {
        __m256i *c = L->off[t][2] == 3 ? c4[n4++] : c3[n3++];
        for (int j = 0; j < 3; j++)
            c[j] = _mm256_set1_epi8((char)L->c[t][j]);
    }
    const __m256i bit5 = _mm256_set1_epi8(0x20), nl = _mm256_set1_epi8('\n');
    const __m256i lt = _mm256_set1_epi8('<'), bs = _mm256_set1_epi8('\\');
    const __m256i qu = _mm256_set1_epi8('"'), kl = _mm256_set1_epi8('l');
    const __m256i kv = _mm256_set1_epi8('v');
    /* The last bytes (a line's 40 or fewer, or all of a short line) are tested from
     * a zero-padded copy: no literal starts with a zero byte, and a hit is compared
     * in full against the text itself, within e. */
    unsigned char tail[32 + 8 + 8] = {0};
    size_t n = (size_t)(e - p);
    for (size_t i = 0; i < n; i += 32) {
        const unsigned char *q = p + i;
        unsigned keep = ~0u;
        if (i + 8 + 32 > n) {
            memset(tail, 0, sizeof tail);
            memcpy(tail, q, n - i);
            q = tail;
            keep = n - i >= 32 ? ~0u : (1u << (n - i)) - 1;
        }
        __m256i v0 = _mm256_loadu_si256((const __m256i *)q);
        __m256i v1 = _mm256_loadu_si256((const __m256i *)(q + 1));
        __m256i l0 = _mm256_or_si256(v0, bit5), l1 = _mm256_or_si256(v1, bit5);
        __m256i l3 = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(q + 3)), bit5);
        __m256i v8 = _mm256_loadu_si256((const __m256i *)(q + 8));
        /* "level" (its letters in any case), unless a '"' follows its ':' (a string
         * value: no number; with a space instead of the ':', no ':' at all) */
        __m256i acc = _mm256_andnot_si256(
            _mm256_cmpeq_epi8(v8, qu),
            _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi8(v0, qu), _mm256_cmpeq_epi8(l1, kl)),
                             _mm256_cmpeq_epi8(l3, kv)));
        acc = _mm256_or_si256(
            acc, _mm256_or_si256(
                     _mm256_and_si256(_mm256_cmpeq_epi8(v0, nl), _mm256_cmpeq_epi8(v1, lt)),
                     _mm256_cmpeq_epi8(v0, bs)));
        for (int t = 0; t < n4; t++)
            acc = _mm256_or_si256(
                acc, _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi8(l0, c4[t][0]),
                                                       _mm256_cmpeq_epi8(l1, c4[t][1])),
                                      _mm256_cmpeq_epi8(l3, c4[t][2])));
        if (n3) {
            __m256i l2 = _mm256_or_si256(_mm256_loadu_si256((const __m256i *)(q + 2)), bit5);
            for (int t = 0; t < n3; t++)
                acc = _mm256_or_si256(
                    acc, _mm256_and_si256(_mm256_and_si256(_mm256_cmpeq_epi8(l0, c3[t][0]),
                                                           _mm256_cmpeq_epi8(l1, c3[t][1])),
                                          _mm256_cmpeq_epi8(l2, c3[t][2])));
        }
        unsigned m = (unsigned)_mm256_movemask_epi8(acc) & keep;
        if (m) {
            const unsigned char *ls = chunk_hits(L, p, i, m, e);
            if (ls != NULL)
                return ls;
        }
    }
    return NULL;
}
#endif

const unsigned char *
lc_levelscan_next(const lc_levelscan *L, const unsigned char *p, const unsigned char *e)
{
    if (p >= e)
        return NULL;
    if (L->n == 0)
        return p;
    if (*p == '<') { /* a PRI on the region's first line (the others follow a '\n') */
        int code = lc_pri_code(p, (size_t)(e - p));
        if (code == 0 || (L->mask >> code & 1))
            return p;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    return next_avx2(L, p, e);
#else
    return p;
#endif
}
