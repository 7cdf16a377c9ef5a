/* Count word frequencies in a file with a chained hash table. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 1024
#define MAXWORD 64

struct entry {
    char *word;
    unsigned count;
    struct entry *next;
};

static struct entry *table[NBUCKETS];

static unsigned long hash(const char *s)
{
    unsigned long h = 5381;
    int c;
    while ((c = *s++) != '\0')
        h = ((h << 5) + h) ^ (unsigned long) c;
    return h % NBUCKETS;
}

static char *copy_string(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void add_word(const char *word)
{
    unsigned long h = hash(word);
    struct entry *e;
    for (e = table[h]; e != NULL; e = e->next) {
        if (strcmp(e->word, word) == 0) {
            e->count += 1;
            return;
        }
    }
    e = malloc(sizeof *e);
    if (!e)
        goto fail;
    e->word = copy_string(word);
    e->count = 1;
    e->next = table[h];
    table[h] = e;
    return;
fail:
    fprintf(stderr, "out of memory at word '%s'\n", word);
    exit(2);
}

static int read_word(FILE *fp, char *buf, int size)
{
    int c, n = 0;
    while ((c = getc(fp)) != EOF && !isalpha(c))
        ;
    if (c == EOF)
        return 0;
    do {
        if (n < size - 1)
            buf[n++] = (char) tolower(c);
    } while ((c = getc(fp)) != EOF && (isalnum(c) || c == '_'));
    buf[n] = '\0';
    return n;
}

int main(int argc, char *argv[])
{
    char word[MAXWORD];
    FILE *fp = argc > 1 ? fopen(argv[1], "r") : stdin;
    unsigned total = 0, distinct = 0;
    int i;

    if (fp == NULL) {
        perror(argv[1]);
        return 1;
    }
    while (read_word(fp, word, sizeof word) > 0)
        add_word(word), total++;
    for (i = 0; i < NBUCKETS; ++i) {
        struct entry *e;
        for (e = table[i]; e; e = e->next) {
            distinct++;
            if (e->count > total / 100)
                printf("%-20s %6u %5.2f%%\n", e->word, e->count,
                       100.0 * e->count / (total ? total : 1));
        }
    }
    printf("%u words, %u distinct\n", total, distinct);
    if (fp != stdin)
        fclose(fp);
    return 0;
}
