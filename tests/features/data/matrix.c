/* Small dense matrices: multiplication, transpose, and a power by squaring. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum layout { ROW_MAJOR, COLUMN_MAJOR = 1 };

typedef double real;
typedef struct matrix {
    int rows, cols;
    enum layout order;
    real *data;
} matrix_t;

typedef real (*unary_fn)(real);

union bits {
    double d;
    unsigned long long u;
};

static matrix_t *mat_new(int rows, int cols)
{
    matrix_t *m = malloc(sizeof(matrix_t));
    m->rows = rows;
    m->cols = cols;
    m->order = ROW_MAJOR;
    m->data = calloc((size_t) rows * cols, sizeof(real));
    return m;
}

static inline real *at(const matrix_t *m, int i, int j)
{
    return &m->data[i * m->cols + j];
}

static matrix_t *mat_mul(const matrix_t *a, const matrix_t *b)
{
    matrix_t *c;
    int i, j, k;
    if (a->cols != b->rows)
        return NULL;
    c = mat_new(a->rows, b->cols);
    for (i = 0; i < a->rows; i++)
        for (j = 0; j < b->cols; j++) {
            real sum = 0.0;
            for (k = 0; k < a->cols; k++)
                sum += *at(a, i, k) * *at(b, k, j);
            *at(c, i, j) = sum;
        }
    return c;
}

static void mat_apply(matrix_t *m, unary_fn f)
{
    int n = m->rows * m->cols, i;
    for (i = 0; i < n; i++)
        m->data[i] = f(m->data[i]);
}

static real halve(real x) { return x / 2; }

static void mat_print(const matrix_t *m)
{
    int i, j;
    for (i = 0; i < m->rows; i++) {
        for (j = 0; j < m->cols; j++)
            printf(j ? " %8.3f" : "%8.3f", *at(m, i, j));
        putchar('\n');
    }
}

int main(void)
{
    static const real init[2][2] = { {1.0, 1.0}, {1.0, 0.0} };
    matrix_t *fib = mat_new(2, 2), *acc = mat_new(2, 2), *tmp;
    union bits b;
    unsigned power = 10u;
    int i;

    for (i = 0; i < 4; i++) {
        fib->data[i] = init[i / 2][i % 2];
        acc->data[i] = (i == 0 || i == 3) ? 1.0 : 0.0;
    }
    while (power > 0) {
        if (power & 1) {
            tmp = mat_mul(acc, fib);
            free(acc->data), free(acc);
            acc = tmp;
        }
        tmp = mat_mul(fib, fib);
        free(fib->data);
        free(fib);
        fib = tmp;
        power >>= 1;
    }
    mat_print(acc);
    mat_apply(acc, halve);
    b.d = acc->data[1];
    printf("F(10)/2 = %g, bits 0x%llx, sqrt = %.4f\n", b.d, b.u, sqrt(b.d));
    return acc->rows == 2 ? EXIT_SUCCESS : EXIT_FAILURE;
}
