/* The first occurrence of any of several literals, in one pass.
 *
 * lc_anyof_find() tests many positions at a time (AVX2: 32, SSE2: 16) against
 * two bytes of each literal (its rarest in log text, by a fixed ranking), ORs the per-literal masks together and
 * compares the literals in full only at the surviving positions, in position
 * order: the first position where one matches is the earliest occurrence of any
 * of them. Each byte is read once for all literals, where searching for each
 * literal in turn reads it once per literal. Literals may be ASCII
 * case-insensitive (the level words of _filters.c): their letters are kept in
 * lower case and text bytes are compared with their ASCII letters lowered.
 * References: the OR pass of query.filters.py_filter_lines, and
 * fieldscan.py_select_levels for the level candidates.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

/* How common a byte is in log text (higher: more): the two positions of a literal
 * whose bytes are rarest are the ones tested many at a time. */
static int
rank(unsigned char c)
{
    if (c == ' ' || (c >= '0' && c <= '9'))
        return 9;
    if (strchr("etaoinsrlcdu", c) != NULL && c != 0)
        return 8;
    if (c >= 'a' && c <= 'z')
        return 6;
    if (strchr("=:-._/\"[],", c) != NULL && c != 0)
        return 5;
    if (c >= 'A' && c <= 'Z')
        return 3;
    return 2;
}

int
lc_anyof_init(lc_anyof *a, const char *const *lits, const size_t *lens, int n, int icase)
{
    if (n < 1 || n > LC_ANY_MAX)
        return -1;
    a->n = n;
    a->icase = icase;
    a->maxk = 0;
    /* Bytes all the literals share at their start tell none of them apart (level=error,
     * level=warn): the two tested are chosen after them, where there are two. */
    size_t shared = 0;
    for (int ok = n > 1; ok; shared++)
        for (int i = 0; i < n && ok; i++)
            ok = shared < lens[i] &&
                 (icase ? lc_lower((unsigned char)lits[i][shared]) ==
                              lc_lower((unsigned char)lits[0][shared])
                        : lits[i][shared] == lits[0][shared]);
    shared = shared ? shared - 1 : 0;
    for (int i = 0; i < n; i++) {
        size_t k = lens[i];
        if (k == 0 || (icase && k > LC_ANY_OWN))
            return -1;
        if (icase) {
            for (size_t j = 0; j < k; j++)
                a->own[i][j] = lc_lower((unsigned char)lits[i][j]);
            a->s[i] = a->own[i];
        } else {
            a->s[i] = (const unsigned char *)lits[i];
        }
        a->k[i] = k;
        size_t from = k - shared >= 2 ? shared : 0;
        size_t x = from, y = k - 1; /* the rarest byte, then the rarest other one */
        for (size_t j = from; j < k; j++)
            if (rank(a->s[i][j]) < rank(a->s[i][x]))
                x = j;
        if (k > 1) { /* ties: the farthest from x (neighbours go together) */
            y = x == from ? from + 1 : from;
            for (size_t j = from; j < k; j++) {
                int r = rank(a->s[i][j]), ry = rank(a->s[i][y]);
                size_t dj = j > x ? j - x : x - j, dy = y > x ? y - x : x - y;
                if (j != x && (r < ry || (r == ry && dj > dy)))
                    y = j;
            }
        }
        a->at1[i] = x;
        a->at2[i] = y;
        a->first[i] = a->s[i][x];
        a->last[i] = a->s[i][y];
        a->fmask[i] = (icase && lc_letter(a->first[i])) ? 0x20 : 0;
        a->lmask[i] = (icase && lc_letter(a->last[i])) ? 0x20 : 0;
        if (k > a->maxk)
            a->maxk = k;
    }
    return 0;
}

/* Whether literal i starts at q (e: the end of the text). */
static inline int
one_at(const lc_anyof *a, int i, const unsigned char *q, const unsigned char *e)
{
    size_t k = a->k[i];
    if ((size_t)(e - q) < k)
        return 0;
    const unsigned char *s = a->s[i];
    if (!a->icase)
        return memcmp(q, s, k) == 0;
    size_t j = 0;
    while (j < k && lc_lower(q[j]) == s[j])
        j++;
    return j == k;
}

/* Whether one literal starts at q. */
static inline int
match_at(const lc_anyof *a, const unsigned char *q, const unsigned char *e)
{
    for (int i = 0; i < a->n; i++)
        if (one_at(a, i, q, e))
            return 1;
    return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The AVX2 loop for N literals (N a constant where the caller is specialised, so
 * the broadcast bytes stay in registers; icase: letters are compared lowered);
 * positions where a literal's two bytes match are then compared in full, in order. */
__attribute__((target("avx2"), always_inline)) static inline const unsigned char *
find_avx2_n(const lc_anyof *a, const unsigned char *p, size_t n, size_t *done, const int N,
            const int icase)
{
    __m256i f[LC_ANY_MAX], l[LC_ANY_MAX], fm[LC_ANY_MAX], lm[LC_ANY_MAX];
    for (int t = 0; t < N; t++) {
        f[t] = _mm256_set1_epi8((char)a->first[t]);
        l[t] = _mm256_set1_epi8((char)a->last[t]);
        fm[t] = _mm256_set1_epi8((char)a->fmask[t]);
        lm[t] = _mm256_set1_epi8((char)a->lmask[t]);
    }
    size_t i = 0;
    for (; i + a->maxk - 1 + 32 <= n; i += 32) {
        __m256i acc = _mm256_setzero_si256();
        for (int t = 0; t < N; t++) {
            __m256i b1 = _mm256_loadu_si256((const __m256i *)(p + i + a->at1[t]));
            __m256i b2 = _mm256_loadu_si256((const __m256i *)(p + i + a->at2[t]));
            if (icase) {
                b1 = _mm256_or_si256(b1, fm[t]);
                b2 = _mm256_or_si256(b2, lm[t]);
            }
            acc = _mm256_or_si256(acc, _mm256_and_si256(_mm256_cmpeq_epi8(b1, f[t]),
                                                        _mm256_cmpeq_epi8(b2, l[t])));
        }
        unsigned m = (unsigned)_mm256_movemask_epi8(acc);
        while (m) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            if (match_at(a, p + i + bit, p + n))
                return p + i + bit;
            m &= m - 1;
        }
    }
    *done = i;
    return NULL;
}

__attribute__((target("avx2"))) static const unsigned char *
find_avx2(const lc_anyof *a, const unsigned char *p, size_t n, size_t *done)
{
    if (a->icase)
        return find_avx2_n(a, p, n, done, a->n, 1);
    switch (a->n) {
    case 1:
        return find_avx2_n(a, p, n, done, 1, 0);
    case 2:
        return find_avx2_n(a, p, n, done, 2, 0);
    case 3:
        return find_avx2_n(a, p, n, done, 3, 0);
    case 4:
        return find_avx2_n(a, p, n, done, 4, 0);
    default:
        return find_avx2_n(a, p, n, done, a->n, 0);
    }
}
#endif

const unsigned char *
lc_anyof_find(const lc_anyof *a, const unsigned char *p, size_t n)
{
    size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (lc_has_avx2) {
        const unsigned char *hit = find_avx2(a, p, n, &i);
        if (hit != NULL)
            return hit;
    }
#endif
#ifdef __SSE2__
    for (; i + a->maxk - 1 + 16 <= n; i += 16) {
        __m128i acc = _mm_setzero_si128();
        for (int t = 0; t < a->n; t++) {
            __m128i b1 = _mm_loadu_si128((const __m128i *)(p + i + a->at1[t]));
            __m128i bl = _mm_loadu_si128((const __m128i *)(p + i + a->at2[t]));
            __m128i f = _mm_set1_epi8((char)a->first[t]), l = _mm_set1_epi8((char)a->last[t]);
            __m128i fm = _mm_set1_epi8((char)a->fmask[t]), lm = _mm_set1_epi8((char)a->lmask[t]);
            acc = _mm_or_si128(acc, _mm_and_si128(_mm_cmpeq_epi8(_mm_or_si128(b1, fm), f),
                                                  _mm_cmpeq_epi8(_mm_or_si128(bl, lm), l)));
        }
        unsigned m = (unsigned)_mm_movemask_epi8(acc);
        while (m) {
            unsigned bit = (unsigned)__builtin_ctz(m);
            if (match_at(a, p + i + bit, p + n))
                return p + i + bit;
            m &= m - 1;
        }
    }
#endif
    for (; i < n; i++)
        if (match_at(a, p + i, p + n))
            return p + i;
    return NULL;
}
