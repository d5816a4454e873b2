/* tokenizer internal: Unicode character classes and UTF-8 decoding. */
#ifndef RHEMA_TOKENIZER_UNICODE_H
#define RHEMA_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Class bits: the general category's major class, plus White_Space.
 * Unassigned code points have no bit. */
enum {
    TOK_U_LETTER = 1,   /* L* */
    TOK_U_NUMBER = 2,   /* N* */
    TOK_U_PUNCT = 4,    /* P* */
    TOK_U_SYMBOL = 8,   /* S* */
    TOK_U_MARK = 16,    /* M* */
    TOK_U_SEP = 32,     /* Z* */
    TOK_U_OTHER = 64,   /* C* (assigned) */
    TOK_U_SPACE = 128,  /* White_Space property: what regex \s matches */
};

typedef struct tok_uni_range {
    uint32_t lo, hi;
    uint8_t flags;
} tok_uni_range;

/* Generated tables (unicode_tables.c): a flat table below 0x800, sorted
 * disjoint ranges above. */
extern const uint8_t tok_uni_direct[0x800];
extern const tok_uni_range tok_uni_ranges[];
extern const size_t tok_uni_n_ranges;

/* Class bits of a code point. */
static inline unsigned tok_uni_flags(uint32_t cp)
{
    if (cp < 0x800)
        return tok_uni_direct[cp];
    size_t lo = 0, hi = tok_uni_n_ranges;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < tok_uni_ranges[mid].lo)
            hi = mid;
        else if (cp > tok_uni_ranges[mid].hi)
            lo = mid + 1;
        else
            return tok_uni_ranges[mid].flags;
    }
    return 0;
}

#define TOK_UNI_REPLACEMENT 0xFFFDu

/* Decode one code point from s[0..n) (n >= 1). Returns the bytes consumed
 * (1..4). A byte that does not start a valid, shortest-form sequence
 * (or a surrogate, or beyond U+10FFFF) yields U+FFFD and consumes 1 byte. */
size_t tok_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Length of the UTF-8 sequence announced by lead byte c (1 for a stray
 * continuation byte or an invalid lead). */
static inline size_t tok_utf8_len(uint8_t c)
{
    static const uint8_t lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

/* Encode cp (< 0x110000) as UTF-8 into out[4]; returns the length. */
size_t tok_utf8_encode(uint32_t cp, uint8_t *out);

#endif
