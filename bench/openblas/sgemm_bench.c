/* OpenBLAS single-precision GEMM throughput for the shapes jddpm's SgemmBench measures.
 * Usage: sgemm_bench ROUNDS [M N K TA TB]...   (thread count: OPENBLAS_NUM_THREADS)
 * Like the JMH side: 1 s of warm-up, then ROUNDS rounds of >= 1 s; prints per shape the mean and
 * the best round: "openblas M N K TA TB threads=T mean X best Y GFLOP/s". Row-major, like jddpm. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void run(int m, int n, int k, int ta, int tb, int rounds) {
    float *a = malloc(sizeof(float) * (size_t) m * k), *b = malloc(sizeof(float) * (size_t) k * n),
          *c = malloc(sizeof(float) * (size_t) m * n);
    srand(1);
    for (size_t i = 0; i < (size_t) m * k; i++) a[i] = rand() / (float) RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t) k * n; i++) b[i] = rand() / (float) RAND_MAX - 0.5f;
    memset(c, 0, sizeof(float) * (size_t) m * n);
    int lda = ta ? m : k, ldb = tb ? k : n;
    double flops = 2.0 * m * n * k, best = 0, sum = 0;
    double warm = now() + 1.0;
    do {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
    } while (now() < warm);
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        int reps = 0;
        do {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
            reps++;
        } while (now() - t0 < 1.0);
        double gf = flops * reps / (now() - t0) / 1e9;
        sum += gf;
        if (gf > best) best = gf;
    }
    printf("openblas %d %d %d %s %s threads=%d mean %.1f best %.1f GFLOP/s (%d rounds of 1 s)\n", m, n, k,
           ta ? "T" : "N", tb ? "T" : "N", openblas_get_num_threads(), sum / rounds, best, rounds);
    fflush(stdout);
    free(a); free(b); free(c);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (argc > 2) {
        for (int i = 2; i + 4 < argc; i += 5)
            run(atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]), argv[i + 3][0] == 'T', argv[i + 4][0] == 'T', rounds);
        return 0;
    }
    run(1024, 1024, 1024, 0, 0, rounds);
    return 0;
}
