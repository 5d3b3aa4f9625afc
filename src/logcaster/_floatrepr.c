/* A double as Python's repr writes it, without the GIL (CPython's own formatter
 * keeps state that needs it): the fewest significant digits that read back as the
 * same double, laid out by repr's rules (exponent form below 1e-4 and from 1e16 on,
 * "1e-05", "1.5e+16"; else "0.0001", "12.0"), and json.dumps's NaN, Infinity and
 * -Infinity.
 *
 * The digits: the correctly rounded p-digit decimal of x (snprintf) for the
 * smallest p whose decimal reads back as x (strtod). Where the doubles around x are
 * evenly spaced, a nearest p-digit decimal reads back whenever any p-digit decimal
 * does, so the smallest p is found by bisection and its nearest decimal is the one
 * repr picks. At a power of two the double below is twice as close as the one
 * above: there the next decimal up may read back when the nearest (below x) does
 * not, so p is searched upward and both are tried. Both read in the C locale,
 * whatever LC_NUMERIC the process set.
 */
#define _GNU_SOURCE
#include "_speedups.h"
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static locale_t c_locale;

int
lc_float_init(void)
{
    if (c_locale == (locale_t)0)
        c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return c_locale == (locale_t)0 ? -1 : 0;
}

double
lc_float_parse(const char *text)
{
    return strtod_l(text, NULL, c_locale);
}

/* The p significant digits of x > 0 correctly rounded (dig, no point) and the
 * decimal exponent of the first; 1 when they read back as x. */
static int
nearest(double x, int p, char *dig, int *exp10)
{
    char buf[48];
    snprintf(buf, sizeof buf, "%.*e", p - 1, x);
    /* d[<point>ddd]e<sign>xx: the point is whatever the locale says */
    int n = 0;
    const char *s = buf;
    while (*s && *s != 'e') {
        if (*s >= '0' && *s <= '9')
            dig[n++] = *s;
        s++;
    }
    dig[n] = 0;
    *exp10 = *s == 'e' ? atoi(s + 1) : 0;
    return n == p;
}

/* Whether the decimal d.ddd * 10^exp10 (dig) reads back as x. */
static int
reads_back(double x, const char *dig, int exp10)
{
    char buf[48], *b = buf; /* d.ddde-xxx, written here: no locale point */
    *b++ = dig[0];
    *b++ = '.';
    for (const char *s = dig + 1; *s; s++)
        *b++ = *s;
    *b++ = 'e';
    if (exp10 < 0) {
        *b++ = '-';
        exp10 = -exp10;
    }
    char rev[8];
    int n = 0;
    do
        rev[n++] = (char)('0' + exp10 % 10);
    while ((exp10 /= 10) > 0);
    while (n)
        *b++ = rev[--n];
    *b = 0;
    return strtod_l(buf, NULL, c_locale) == x;
}

/* dig (p digits) plus one unit in its last place; 1 when it carried into a new
 * leading digit (dig then "1" followed by zeros, exp10 one higher). */
static void
bump(char *dig, int p, int *exp10)
{
    int i = p - 1;
    while (i >= 0 && dig[i] == '9')
        dig[i--] = '0';
    if (i >= 0) {
        dig[i]++;
        return;
    }
    dig[0] = '1';
    (*exp10)++;
}

/* The shortest digits of x > 0 (finite) in dig, their exponent in *exp10. */
static void
shortest(double x, char *dig, int *exp10)
{
    uint64_t bits;
    memcpy(&bits, &x, 8);
    int pow2 = (bits & ((1ULL << 52) - 1)) == 0 && (bits >> 52) > 1;
    if (pow2) {
        for (int p = 1; p < 17; p++) {
            nearest(x, p, dig, exp10);
            if (reads_back(x, dig, *exp10))
                return;
            char up[24];
            int e2 = *exp10;
            memcpy(up, dig, (size_t)p + 1);
            bump(up, p, &e2);
            if (reads_back(x, up, e2)) {
                /* the nearest was below x (the one above it would be further) */
                memcpy(dig, up, (size_t)p + 1);
                *exp10 = e2;
                return;
            }
        }
        nearest(x, 17, dig, exp10);
        return;
    }
    /* Most doubles people write have at most 15 significant digits. When a normal
     * x's shortest digits are that few, they are its nearest 15-digit decimal with
     * the trailing zeros dropped: the shortest reads back, so it lies within half
     * a double's spacing of x (at most 2**-53 of x), less than half the spacing of
     * 15-digit decimals (at least 5e-16 of x). So one try at 15 settles them; only
     * 16 and 17 are left otherwise. (Subnormals are spaced wider: searched.) */
    int lo = 1, hi = 17; /* 17 digits always read back */
    if (x >= DBL_MIN && nearest(x, 15, dig, exp10) && reads_back(x, dig, *exp10)) {
        for (int n = 15; n > 1 && dig[n - 1] == '0'; n--)
            dig[n - 1] = 0;
        return;
    }
    if (x >= DBL_MIN)
        lo = 16;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        nearest(x, mid, dig, exp10);
        if (reads_back(x, dig, *exp10))
            hi = mid;
        else
            lo = mid + 1;
    }
    nearest(x, lo, dig, exp10);
}

char *
lc_float_repr(char *d, double x)
{
    if (isnan(x))
        return memcpy(d, "NaN", 3), d + 3;
    if (isinf(x)) {
        if (x < 0)
            return memcpy(d, "-Infinity", 9), d + 9;
        return memcpy(d, "Infinity", 8), d + 8;
    }
    if (signbit(x)) {
        *d++ = '-';
        x = -x;
    }
    if (x == 0)
        return memcpy(d, "0.0", 3), d + 3;
    char dig[24];
    int exp10;
    shortest(x, dig, &exp10);
    int n = (int)strlen(dig);
    while (n > 1 && dig[n - 1] == '0')
        n--;
    int decpt = exp10 + 1; /* digits before the point */
    if (decpt <= -4 || decpt > 16) {
        *d++ = dig[0];
        if (n > 1) {
            *d++ = '.';
            memcpy(d, dig + 1, (size_t)n - 1);
            d += n - 1;
        }
        return d + sprintf(d, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    if (decpt <= 0) {
        *d++ = '0';
        *d++ = '.';
        for (int i = 0; i < -decpt; i++)
            *d++ = '0';
        memcpy(d, dig, (size_t)n);
        return d + n;
    }
    if (decpt < n) {
        memcpy(d, dig, (size_t)decpt);
        d += decpt;
        *d++ = '.';
        memcpy(d, dig + decpt, (size_t)(n - decpt));
        return d + (n - decpt);
    }
    memcpy(d, dig, (size_t)n);
    d += n;
    for (int i = n; i < decpt; i++)
        *d++ = '0';
    *d++ = '.';
    *d++ = '0';
    return d;
}
