/* A singly linked list of integers: insertion, reversal, printing, freeing. */
#include <stdio.h>
#include <stdlib.h>

#define MAX_ITEMS 16

typedef struct node {
    int value;
    struct node *next;
} node;

typedef struct {
    node *head;
    size_t length;
} list;

static node *node_new(int value)
{
    node *n = (node *) malloc(sizeof(node));
    if (n == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(EXIT_FAILURE);
    }
    n->value = value;
    n->next = NULL;
    return n;
}

static void list_push(list *l, int value)
{
    node *n = node_new(value);
    n->next = l->head;
    l->head = n;
    l->length++;
}

static void list_reverse(list *l)
{
    node *prev = NULL, *cur = l->head;
    while (cur != NULL) {
        node *next = cur->next;
        cur->next = prev;
        prev = cur;
        cur = next;
    }
    l->head = prev;
}

static int list_sum(const list *l)
{
    int total = 0;
    const node *n;
    for (n = l->head; n; n = n->next)
        total += n->value;
    return total;
}

static void list_print(const list *l)
{
    const node *n = l->head;
    printf("[");
    while (n) {
        printf("%d%s", n->value, n->next ? ", " : "");
        n = n->next;
    }
    printf("] (%lu items)\n", (unsigned long) l->length);
}

static void list_free(list *l)
{
    node *n = l->head;
    while (n != NULL) {
        node *next = n->next;
        free(n);
        n = next;
    }
    l->head = NULL;
    l->length = 0;
}

int main(int argc, char **argv)
{
    list l = {NULL, 0};
    int i;

    for (i = 0; i < MAX_ITEMS; i++) {
        if (i % 3 == 0)
            continue;
        list_push(&l, i * i);
    }
    list_print(&l);
    list_reverse(&l);
    list_print(&l);
    printf("sum = %d\n", list_sum(&l));
    if (argc > 1 && argv[1][0] == '-')
        printf("option: %s\n", argv[1] + 1);
    list_free(&l);
    return 0;
}
