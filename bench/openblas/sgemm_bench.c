/* OpenBLAS single-precision GEMM throughput for the shapes jddpm's SgemmBench measures.
 * Usage: sgemm_bench [seconds-per-shape] [M N K TA TB]...   (thread count: OPENBLAS_NUM_THREADS)
 * Prints one line per shape: "openblas M N K TA TB threads GFLOP/s best-of-N". Row-major, like jddpm. */
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

static void run(int m, int n, int k, int ta, int tb, double seconds) {
    float *a = malloc(sizeof(float) * (size_t) m * k), *b = malloc(sizeof(float) * (size_t) k * n),
          *c = malloc(sizeof(float) * (size_t) m * n);
    srand(1);
    for (size_t i = 0; i < (size_t) m * k; i++) a[i] = rand() / (float) RAND_MAX - 0.5f;
    for (size_t i = 0; i < (size_t) k * n; i++) b[i] = rand() / (float) RAND_MAX - 0.5f;
    memset(c, 0, sizeof(float) * (size_t) m * n);
    int lda = ta ? m : k, ldb = tb ? k : n;
    double flops = 2.0 * m * n * k, best = 0, end = now() + seconds;
    int rounds = 0;
    /* warm-up, then rounds of >= 100 ms each; the best round counts (machine is shared) */
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
    while (now() < end || rounds < 3) {
        double t0 = now();
        int reps = 0;
        do {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
            reps++;
        } while (now() - t0 < 0.1);
        double gf = flops * reps / (now() - t0) / 1e9;
        if (gf > best) best = gf;
        rounds++;
    }
    printf("openblas %d %d %d %s %s threads=%d %.1f GFLOP/s (best of %d rounds)\n", m, n, k, ta ? "T" : "N",
           tb ? "T" : "N", openblas_get_num_threads(), best, rounds);
    fflush(stdout);
    free(a); free(b); free(c);
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    if (argc > 2) {
        for (int i = 2; i + 4 < argc; i += 5)
            run(atoi(argv[i]), atoi(argv[i + 1]), atoi(argv[i + 2]), argv[i + 3][0] == 'T', argv[i + 4][0] == 'T', seconds);
        return 0;
    }
    run(1024, 1024, 1024, 0, 0, seconds);
    return 0;
}
